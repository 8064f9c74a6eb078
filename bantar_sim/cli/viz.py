"""`bantar-sim viz`: serve the teaching app (bantar_sim/app/) with Solara on 127.0.0.1.

The port is checked before the server starts (a whole number in 1–65535, free on the host), so a
lecturer sees one clear line instead of a server traceback. Solara runs in production mode (no hot
reload), without its version check or telemetry: the app must work with no network at all
(solara-assets serves the JavaScript locally).
"""
from __future__ import annotations

import argparse
import errno
import os
import socket
import warnings

from bantar_sim.cli.common import add_parameter_set_arguments
from bantar_sim.model.params import ParameterError
from bantar_sim.studies.inputs import resolve_parameter_set

APP_MODULE = "bantar_sim.app.page"
PRESETS = ("classroom", "full")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `bantar-sim viz`.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    """
    parser.add_argument("--port", type=int, default=8765, help="port to serve on (1–65535, default 8765)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0 lets students "
                             "on the same network connect)")
    parser.add_argument("--preset", choices=PRESETS, default="classroom",
                        help="city the app starts with: classroom (10%% of the RTs, households per RT as in the "
                             "parameter set; fast) or full (all 1,627 RTs); switchable in the app, or open "
                             "/?preset=full")
    parser.add_argument("--seed", type=int, default=2014, help="random seed of the first model (default 2014)")
    add_parameter_set_arguments(parser)
    parser.add_argument("--no-open", action="store_true", help="do not open a browser window")


def check_port(host: str, port: int) -> None:
    """Check that the server can listen on `host`:`port`, before it starts.

    Parameters
    ----------
    host : str
        Address to listen on.
    port : int
        Port to listen on.

    Raises
    ------
    ParameterError
        Unless `port` is a whole number in [1, 65535] and nothing listens on it at `host`.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ParameterError(f"--port must be a whole number in [1, 65535], got {port!r}")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the server itself (uvicorn sets SO_REUSEADDR): a port left in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except PermissionError:
            raise ParameterError(f"--port {port} needs administrator rights on this system; "
                                 "use a port above 1023, e.g. --port 8765") from None
        except socket.gaierror:
            raise ParameterError(f"--host {host!r} is not a valid address (e.g. 127.0.0.1)") from None
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ParameterError(f"port {port} on {host} is already in use (another program, or a "
                                     f"`bantar-sim viz` still running); choose another with --port, "
                                     f"e.g. --port {port + 1 if port < 65535 else 8765}") from None
            if err.errno == errno.EADDRNOTAVAIL:
                raise ParameterError(f"--host {host} is not an address of this computer") from None
            raise ParameterError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def main(args: argparse.Namespace) -> int:
    """Check the options, then serve the app until Ctrl+C.

    The app is started by its module NAME (``APP_MODULE``), handed to Solara: the CLI does not import
    the app, so the two rooms stay apart.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (port, host, preset, seed, uncalibrated, no_open).

    Returns
    -------
    int
        0 when the server stops.

    Raises
    ------
    ParameterError
        A port or host that cannot be served on, a negative seed, or a broken calibrated set.
    """
    check_port(args.host, args.port)
    if args.seed < 0:
        raise ParameterError(f"--seed must be a whole number >= 0, got {args.seed}")
    # Read by bantar_sim.app.page when Solara imports it in this process.
    os.environ["BANTAR_VIZ_PRESET"] = args.preset
    os.environ["BANTAR_VIZ_SEED"] = str(args.seed)
    os.environ["BANTAR_VIZ_UNCALIBRATED"] = "1" if args.uncalibrated else "0"
    # A missing or broken calibrated set is reported here, not as a blank page.
    pset = resolve_parameter_set(args.calibrated, uncalibrated=args.uncalibrated)
    os.environ["BANTAR_VIZ_CALIBRATED"] = str(pset.path) if pset.path else ""
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"   # no calls home
    os.environ["SOLARA_THEME_SHOW_BANNER"] = "False"          # no "runs on Solara" badge over the charts
    from solara.__main__ import run as solara_run
    from solara.server import settings
    settings.telemetry.mixpanel_enable = False
    settings.theme.show_banner = False
    # Solara warns on every plain-http page load that it cannot set a samesite=none cookie; on
    # 127.0.0.1 that is expected and only clutters the lecturer's terminal.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    url = f"http://{args.host}:{args.port}/"
    basis = pset.describe()
    print(f"bantar-sim viz: the teaching app at {url} ({args.preset} city, seed {args.seed}, {basis}; "
          f"{url}?preset=full for the full city). Stop with Ctrl+C.", flush=True)
    argv = [APP_MODULE, "--host", args.host, "--port", str(args.port), "--production", "--no-check-version",
            "--no-open" if args.no_open else "--open", "--log-level", "warning"]
    try:
        solara_run.main(args=argv, prog_name="bantar-sim viz", standalone_mode=False)
    except KeyboardInterrupt:
        pass
    return 0
