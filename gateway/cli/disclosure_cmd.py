"""``hostgate disclosure show``: what a chat client would show for a business."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.cli.common import DEFAULT_CONFIG_DIR, EXIT_INVALID, EXIT_OK, load_or_report
from gateway.disclosure.notice import render_notice


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``disclosure show``."""
    disclosure = subparsers.add_parser("disclosure", help="inspect hosting disclosures")
    actions = disclosure.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="print the notice a chat client would show")
    show.add_argument("business_id")
    show.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
    show.add_argument("--locale", default=None, help="client locale, e.g. fr or ar-EG (default: en)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(run=run_show)


def run_show(args: argparse.Namespace) -> int:
    """Render the business's notice in the requested locale."""
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    business = config.businesses.get(args.business_id)
    if business is None:
        known = ", ".join(sorted(config.businesses)) or "none"
        print(
            f"error: no business {args.business_id!r} in {args.config}; known: {known}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    notice = render_notice(business.facts, str(business.file.learn_more_url), args.locale)
    if args.json:
        document = {
            "business_id": business.id,
            "display_name": business.file.display_name,
            "requested_locale": args.locale,
            "notice": notice.model_dump(mode="json"),
            "facts": business.facts.model_dump(mode="json"),
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return EXIT_OK
    facts = business.facts
    print(f"{business.file.display_name} ({business.id})")
    print(f"  {notice.text}")
    print(f"  {notice.learn_more_label}: {notice.learn_more_url}")
    print(
        f"  [{notice.locale}, {notice.direction}] class={facts.hosting_class.value} "
        f"operator={facts.operator} region={facts.region} retention={facts.retention.days}d "
        f"end_to_end={'yes' if facts.end_to_end else 'no'}"
    )
    return EXIT_OK
