"""`bantar-sim params`: the parameter table (the same one docs/ODD.md carries)."""
from bantar_sim.model.params import markdown_table


def add_arguments(parser):
    parser.add_argument("--group", default=None, help="only this group (city, network, decision, policy, ...)")


def main(args):
    lines = markdown_table().splitlines()
    if args.group:
        lines = lines[:2] + [ln for ln in lines[2:] if f"| {args.group} |" in ln]
    print("\n".join(lines))
    return 0
