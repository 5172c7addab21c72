"""``SmtpMailSender`` configuration: the URL forms it accepts and what it refuses up front."""

from __future__ import annotations

import pytest

from bazaar.contexts.notifications import Email, MailUnavailableError
from bazaar.contexts.notifications.adapters import SmtpEndpoint, SmtpMailSender, parse_smtp_url
from bazaar.kernel.errors import ConfigurationError
from bazaar.settings import Settings

FROM = "bazaar <noreply@bazaar.test>"


class TestParseSmtpUrl:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("smtp://127.0.0.1:2525", SmtpEndpoint("127.0.0.1", 2525, implicit_tls=False)),
            ("smtp://mail.example.test", SmtpEndpoint("mail.example.test", 25, False)),
            ("smtps://mail.example.test", SmtpEndpoint("mail.example.test", 465, True)),
            ("SMTPS://relay.test:1465", SmtpEndpoint("relay.test", 1465, True)),
            ("smtp://[::1]:2525", SmtpEndpoint("::1", 2525, False)),
        ],
    )
    def test_reads_host_port_and_tls(self, url: str, expected: SmtpEndpoint) -> None:
        assert parse_smtp_url(url) == expected

    def test_decodes_credentials(self) -> None:
        endpoint = parse_smtp_url("smtp://mailer%40acme:p%3Ass%2Fw@relay.test:587")
        assert (endpoint.username, endpoint.password) == ("mailer@acme", "p:ss/w")
        assert "p:ss/w" not in repr(endpoint)

    @pytest.mark.parametrize(
        "url", ["http://relay.test", "relay.test:25", "smtp://", "smtp://relay.test:port"]
    )
    def test_refuses_what_is_not_an_smtp_url(self, url: str) -> None:
        with pytest.raises(ConfigurationError) as caught:
            parse_smtp_url(url)
        assert caught.value.key == "smtp_url"


class TestSmtpMailSender:
    def test_refuses_a_from_address_without_an_address(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            SmtpMailSender("smtp://relay.test", from_address="bazaar")
        assert caught.value.key == "smtp_from"

    async def test_without_a_url_every_send_is_unavailable(self) -> None:
        sender = SmtpMailSender("", from_address=FROM)
        email = Email(to="a@b.test", subject="s", body_text="b", message_id="<1.t@x>")
        with pytest.raises(MailUnavailableError, match="smtp_url is empty"):
            await sender.send(email, timeout_s=1.0)


class TestSettings:
    def test_smtp_url_must_be_smtp_or_smtps(self) -> None:
        with pytest.raises(ValueError, match="smtp or smtps"):
            Settings(smtp_url="http://relay.test")

    def test_the_mail_settings_have_working_defaults(self) -> None:
        fields = Settings.model_fields
        assert fields["mail_sink_port"].default == 0  # a free port
        SmtpMailSender(fields["smtp_url"].default, from_address=fields["smtp_from"].default)
