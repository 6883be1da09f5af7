from tests.standins.microsoft import apis, http, microsoft, sleep, standin_ca

__all__ = ["apis", "http", "microsoft", "sleep", "standin_ca"]
