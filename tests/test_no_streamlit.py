import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_lab_never_imports_streamlit():
    modules = sorted(p.stem for p in (ROOT / "lab").glob("*.py") if p.stem != "__main__")
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module('lab.' + m)\n"
        "import lab.labels, trl, datasets\n"
        "assert 'streamlit' not in sys.modules, 'lab imported streamlit'\n"
        "print(len(sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
