"""The shipped tables: published values kept, every discrepancy of Table 3 found, bad files named."""
import shutil

import pytest

from bantar_sim.model.data import SUBDISTRICTS, YEARS, DataFileError, _data_path, load_hdi, load_poverty, load_table3


def test_published_values_are_kept_as_printed():
    t = load_table3()
    pub = t.published
    assert pub.loc["Jambi Timur", "amount"] == 34
    assert pub.loc["Amount", "rts"] == 1623
    assert pub.loc["Amount", "rt_proposals"] == 820
    assert [pub.loc["Amount", f"won_{y}"] for y in YEARS] == [3, 109, 88, 60, 88, 154, 112]
    assert pub.loc["Danau Teluk", "rts"] == 44 and pub.loc["Paal Merah", "won_2019"] == 31


def test_consistent_version_derives_totals_from_the_rows():
    t = load_table3()
    c = t.consistent
    assert list(c.index) == list(SUBDISTRICTS)
    assert c.loc["Jambi Timur", "amount"] == 75
    assert c["rts"].sum() == 1627
    assert c["amount"].sum() == 614
    assert t.city_winners.tolist() == [3, 109, 88, 60, 88, 154, 112]
    assert (c[[f"won_{y}" for y in YEARS]].sum(axis=1) == c["amount"]).all()


def test_every_discrepancy_is_reported():
    d = load_table3().discrepancies
    amount_rows = {x.row: (x.printed, x.derived) for x in d if x.column == "amount"}
    assert amount_rows == {"Jambi Timur": (34, 75), "Telanaipura": (65, 66), "Danau Sipin": (55, 54),
                           "Jambi Selatan": (65, 66), "Paal Merah": (90, 89)}
    rts = [x for x in d if x.row == "Amount" and x.column == "rts"]
    assert len(rts) == 1 and rts[0].printed == 1623 and rts[0].derived == 1627
    col = [x for x in d if "printed Amount column" in x.column]
    assert len(col) == 1 and col[0].printed == 614 and col[0].derived == 573
    # The yearly columns and proposals add up: no discrepancy is invented for them.
    assert not [x for x in d if x.column.startswith("won_") or x.column == "rt_proposals"]


def test_context_tables():
    assert load_poverty().loc[2015] == 55510 and load_poverty().loc[2021] == 54230
    assert load_hdi().loc[2020] == pytest.approx(78.37)


def _edited(tmp_path, old, new):
    src = _data_path("table3_published.csv")
    dst = tmp_path / "table3.csv"
    text = src.read_text()
    assert old in text
    dst.write_text(text.replace(old, new, 1))
    return dst


@pytest.mark.parametrize("old,new,row,column", [
    ("Pasar,58,43,0,10", "Pasar,58,43,0,ten", 7, "won_2015"),
    ("Pasar,58,43", "Pasar,-58,43", 7, "rts"),
    ("Pelayangan,46", "Pelayangn,46", 5, "subdistrict"),
    ("Danau Teluk,44,42,1", "Danau Teluk,44,42,1.5", 6, "won_2014"),
    ("Danau Teluk,44,42,1,14", "Danau Teluk,44,42,1,54", 6, "won_2015"),
])
def test_malformed_file_names_file_row_and_column(tmp_path, old, new, row, column):
    path = _edited(tmp_path, old, new)
    with pytest.raises(DataFileError) as err:
        load_table3(path)
    assert err.value.row == row and err.value.column == column
    assert str(path) in str(err.value)


def test_missing_column_and_missing_row(tmp_path):
    path = _edited(tmp_path, "rt_proposals,", "proposals,")
    with pytest.raises(DataFileError, match="rt_proposals"):
        load_table3(path)
    src = _data_path("table3_published.csv")
    lines = [ln for ln in src.read_text().splitlines() if not ln.startswith("Jelutung")]
    path2 = tmp_path / "t.csv"
    path2.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFileError, match="Jelutung"):
        load_table3(path2)
    shutil.rmtree(tmp_path)
