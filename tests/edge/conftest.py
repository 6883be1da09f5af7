from tests.standins.microsoft import standin_ca
from tests.standins.openid import openid

__all__ = ["openid", "standin_ca"]
