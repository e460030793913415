"""`python -m karyotrain COMMAND ...`: dispatches to the subcommand modules (imported lazily)."""

import importlib
import sys

COMMANDS = {
    "synth": "karyotrain.synth.cli",
    "train": "karyotrain.train",
    "evaluate": "karyotrain.evaluate",
    "export": "karyotrain.export",
    "golden": "karyotrain.golden",
    "intensity": "karyotrain.intensity",
    "rescore": "karyotrain.rescore",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m karyotrain {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
