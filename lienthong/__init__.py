"""lienthong: the integration hub of a province's e-government (one-stop system, DVCQG, payments, ministries)."""

__version__ = "0.1.0"
