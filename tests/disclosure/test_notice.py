"""Notices rendered from hosting facts, in every locale, and `hostgate disclosure show`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from adapters.base import EndpointKey, HostingClass, HostingFacts
from gateway.disclosure.catalog import load_catalogs, resolve_locale, supported_locales
from gateway.disclosure.notice import render_notice
from tests.conftest import EXAMPLE_CONFIG, run_cli

SIX = ["id", "en", "zh", "ja", "ar", "fr"]

# What each example business must show, per locale; the operator's name appears in cloud notices.
EXPECTED = {
    "warung-sari": {
        "id": "Pesan dan panggilan terenkripsi secara end-to-end.",
        "en": "Messages and calls are end-to-end encrypted. No one outside of this chat can read or listen to them.",
        "zh": "消息和通话均已端到端加密。",
        "ja": "メッセージと通話はエンドツーエンドで暗号化されています。",
        "ar": "الرسائل والمكالمات مشفّرة تمامًا بين الطرفين.",
        "fr": "Les messages et les appels sont chiffrés de bout en bout.",
    },
    "nimbus-shop": {
        "id": "Bisnis ini menggunakan layanan aman dari Meta untuk mengelola chat ini.",
        "en": "This business uses a secure service from Meta to manage this chat.",
        "zh": "此商家使用 Meta 提供的安全服务来管理此聊天。",
        "ja": "このビジネスはMetaの安全なサービスを利用してこのチャットを管理しています。",
        "ar": "يستخدم هذا النشاط التجاري خدمة آمنة من \u2068Meta\u2069 لإدارة هذه الدردشة.",
        "fr": "Cette entreprise utilise un service sécurisé de Meta pour gérer cette discussion.",
    },
    "kirana-travel": {
        "id": "Bisnis ini bekerja sama dengan perusahaan lain untuk mengelola chat ini.",
        "en": "This business works with other companies to manage this chat.",
        "zh": "此商家与其他公司合作管理此聊天。",
        "ja": "このビジネスは他の企業と連携してこのチャットを管理しています。",
        "ar": "يعمل هذا النشاط التجاري مع شركات أخرى لإدارة هذه الدردشة.",
        "fr": "Cette entreprise travaille avec d’autres sociétés pour gérer cette discussion.",
    },
}


def _facts(hosting_class: HostingClass, operator: str) -> HostingFacts:
    return HostingFacts(
        hosting_class=hosting_class,
        operator=operator,
        region="eu-1",
        retention=timedelta(days=1),
        endpoint_key=EndpointKey(public_key=bytes(range(1, 33))),
    )


class TestCatalogs:
    def test_six_locales_ship(self) -> None:
        """Indonesian, English, Chinese, Japanese, Arabic and French all have catalogs."""
        assert supported_locales() >= set(SIX)

    def test_arabic_is_right_to_left(self) -> None:
        """Arabic is marked rtl so clients lay the notice out right to left."""
        assert load_catalogs()["ar"].direction == "rtl"
        assert {c.direction for k, c in load_catalogs().items() if k != "ar"} == {"ltr"}

    @pytest.mark.parametrize(
        ("requested", "resolved"),
        [
            ("fr", "fr"),
            ("fr-CA", "fr"),
            ("ar_EG", "ar"),
            ("pt-BR", "en"),
            ("", "en"),
            (None, "en"),
            ("EN", "en"),
        ],
    )
    def test_locale_resolution(self, requested: str | None, resolved: str) -> None:
        """A client locale resolves to its exact catalog, then its language, then English."""
        assert resolve_locale(requested) == resolved


class TestRenderNotice:
    @pytest.mark.parametrize("locale", SIX)
    def test_operator_named_in_cloud_notice(self, locale: str) -> None:
        """The cloud notice names the operator in every locale."""
        notice = render_notice(_facts(HostingClass.CLOUD, "Acme Cloud"), "https://x.example/", locale)
        assert "Acme Cloud" in notice.text
        assert "{operator}" not in notice.text

    def test_operator_with_braces_is_literal(self) -> None:
        """An operator name containing braces is inserted verbatim, not formatted."""
        notice = render_notice(_facts(HostingClass.CLOUD, "{0} Cloud {operator}"), "https://x/", "en")
        assert (
            notice.text
            == "This business uses a secure service from {0} Cloud {operator} to manage this chat."
        )

    def test_unknown_locale_falls_back_to_english(self) -> None:
        """A locale without a catalog gets the English notice."""
        notice = render_notice(_facts(HostingClass.PARTNER, "P"), "https://x/", "sw")
        assert notice.locale == "en"
        assert notice.text == "This business works with other companies to manage this chat."


class TestDisclosureShowCli:
    @pytest.mark.parametrize("business", sorted(EXPECTED))
    @pytest.mark.parametrize("locale", SIX)
    def test_each_business_each_locale(self, business: str, locale: str) -> None:
        """`disclosure show` prints the right notice for each example business in each locale."""
        result = run_cli(
            "disclosure",
            "show",
            business,
            "--config",
            str(EXAMPLE_CONFIG),
            "--locale",
            locale,
            "--json",
        )
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["business_id"] == business
        assert document["notice"]["locale"] == locale
        assert document["notice"]["text"].startswith(EXPECTED[business][locale])
        assert document["notice"]["learn_more_url"].startswith("https://hostgate.example/learn-more/")
        assert document["notice"]["direction"] == ("rtl" if locale == "ar" else "ltr")

    def test_text_output(self) -> None:
        """Without --json the notice is printed as a reader sees it, with the learn-more link."""
        result = run_cli(
            "disclosure", "show", "nimbus-shop", "--config", str(EXAMPLE_CONFIG), "--locale", "fr"
        )
        assert result.returncode == 0, result.stderr
        assert EXPECTED["nimbus-shop"]["fr"] in result.stdout
        assert "En savoir plus: https://hostgate.example/learn-more/cloud" in result.stdout

    def test_unknown_locale_falls_back(self) -> None:
        """An unknown client locale gets the English notice."""
        result = run_cli(
            "disclosure",
            "show",
            "kirana-travel",
            "--config",
            str(EXAMPLE_CONFIG),
            "--locale",
            "de-AT",
            "--json",
        )
        document = json.loads(result.stdout)
        assert document["notice"]["locale"] == "en"
        assert document["notice"]["text"] == EXPECTED["kirana-travel"]["en"]

    def test_json_carries_the_facts(self) -> None:
        """--json includes the facts the notice was derived from."""
        result = run_cli("disclosure", "show", "nimbus-shop", "--config", str(EXAMPLE_CONFIG), "--json")
        facts = json.loads(result.stdout)["facts"]
        assert facts["hosting_class"] == "cloud"
        assert facts["operator"] == "Meta"
        assert facts["region"] == "sg-1"
        assert facts["end_to_end"] is False
        assert facts["endpoint_key"]["kid"].startswith("ek_")

    def test_unknown_business(self) -> None:
        """An unknown business id exits 1 and lists the known ones."""
        result = run_cli("disclosure", "show", "no-such", "--config", str(EXAMPLE_CONFIG))
        assert result.returncode == 1
        assert "no business 'no-such'" in result.stderr
        assert "warung-sari" in result.stderr
