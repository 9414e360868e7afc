"""Print the README's Quickstart commands, one per line (CI runs exactly these)."""

import pathlib
import re
import sys

text = pathlib.Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
section = text.split("## Quickstart", 1)[1]
block = re.search(r"```(?:bash|sh)\n(.*?)```", section, re.S).group(1)
commands = [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
if len(commands) != 2:
    sys.exit(f"README Quickstart must hold exactly two commands, found {len(commands)}")
print("\n".join(commands))
