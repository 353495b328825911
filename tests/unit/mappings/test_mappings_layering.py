"""One home for shared validators and one timezone constant: `lienthong.schemas` never imports the mappings."""

import subprocess
import sys


def test_importing_the_canonical_models_loads_no_mapping_module() -> None:
    code = (
        "import sys, lienthong.schemas, lienthong.schemas.validators; "
        "print(sorted(m for m in sys.modules if m.startswith('lienthong.mappings')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_there_is_one_vietnam_timezone_object() -> None:
    from lienthong.calendar.config import VIETNAM_TZ
    from lienthong.mappings.identifiers import VN_TZ as IDENTIFIERS_TZ
    from lienthong.mappings.wire import VN_TZ as WIRE_TZ
    from lienthong.schemas.validators import VN_TZ

    assert VN_TZ is WIRE_TZ is VIETNAM_TZ is IDENTIFIERS_TZ
    assert str(VN_TZ) == "Asia/Ho_Chi_Minh"
