"""pytest configuration shared by the compatibility tests: tests run against the live server whose
addresses arrive in GAVEL_HTTP / GAVEL_WS (see crates/gavel-server/tests/common/external.rs)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
# The Python SDK's examples (seeds 000 and 001), which test_python_sdk.py runs.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdks/python/examples"))
