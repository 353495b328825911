"""Settings of the national-database look-ups: `LIENTHONG_LOOKUPS_*` environment variables.

Defaults reach the sandbox (`python -m lienthong.connectors.nationaldb.sandbox --port 8093`) with its
demo credentials. Production sets the integration platform's URL and client credentials, the
civil-status service's address and account, a secret `hash_key`, and a PostgreSQL-free deployment
needs nothing else: the look-up log lives in the audit chain.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LookupSettings(BaseSettings):
    """How lienthong reaches the national databases, and the rules every look-up follows."""

    model_config = SettingsConfigDict(
        env_prefix="LIENTHONG_LOOKUPS_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    url: str = "http://127.0.0.1:8093"
    """Base URL of the integration platform (LGSP/NGSP): token at `POST {url}/token`, population at
    `POST {url}/dancu/tracuu`, business registry at `GET {url}/dkdn/chiTietDoanhNghiep?msdn=`."""
    client_id: str = "lienthong"
    """OAuth2 client id at the integration platform (client credentials); the default is the sandbox's."""
    client_secret: SecretStr = SecretStr("sandbox-secret")
    """OAuth2 client secret (HTTP Basic at the token endpoint); the default is the sandbox's. Never logged."""
    population_path: str = "/dancu/tracuu"
    """Path of the population look-up service on the platform (JSON in, SOAP XML in `message` out)."""
    business_path: str = "/dkdn/chiTietDoanhNghiep"
    """Path of the business-registry look-up (`?msdn=<tax code>`)."""
    service_code: str = "000.00.12.H52"
    """`MaDVC`: the calling unit's code sent with every population look-up."""
    civil_status_url: str = "http://127.0.0.1:8093/hotich/soap"
    """Endpoint address of the civil-status SOAP service (its WSDL is vendored: lienthong/schemas/civil_status.wsdl)."""
    civil_status_username: str = "lienthong"
    """WS-Security UsernameToken user at the civil-status service; the default is the sandbox's."""
    civil_status_password: SecretStr = SecretStr("sandbox-secret")
    """Its password (sent as PasswordDigest). Never logged."""
    timeout_s: float = Field(2.0, gt=0)
    """Timeout of one call to a national database, seconds (connect, read and write each)."""
    token_refresh_margin_s: float = Field(30.0, ge=0)
    """Renew the platform token this many seconds before it expires (capped at half its lifetime)."""
    hash_key: SecretStr = SecretStr("")
    """Secret key of the keyed hash (HMAC-SHA256) that records which citizen a look-up concerned;
    `lienthong lookups log` needs the same key. Empty = a key derived from the state directory (demo
    only): set it in production and keep it stable."""
    rate_per_minute: int = Field(30, ge=1)
    """Look-ups one officer (`MaCanBo`) may make per minute in one process; more are refused (429)."""
    fields_file: str = ""
    """YAML file of the fields each procedure may receive from each register (see the shipped
    `lienthong/connectors/nationaldb/fields.yaml`). Empty = the shipped file."""
    desk_token: SecretStr = SecretStr("")
    """Bearer token desk systems must send to `POST /lookups/...`. Empty = no check (loopback only)."""


__all__ = ["LookupSettings"]
