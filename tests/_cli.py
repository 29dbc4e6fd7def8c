"""Run the CLI in-process the way a user's shell would: exit code, stdout, stderr."""

from perfmodel.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
