from tests.report.support import ledger

__all__ = ["ledger"]
