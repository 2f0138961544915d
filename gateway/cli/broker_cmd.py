"""``hostgate broker permissions``: the broker rights each account needs, as a command to run."""

from __future__ import annotations

import argparse
import shlex

from gateway.broker.permissions import ROLES, rabbitmqctl_command
from gateway.cli.common import EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``broker permissions``."""
    broker = subparsers.add_parser("broker", help="RabbitMQ accounts and their rights")
    actions = broker.add_subparsers(dest="action", required=True)
    permissions = actions.add_parser(
        "permissions", help="print the rabbitmqctl command giving an account exactly its role's rights"
    )
    permissions.add_argument("--role", choices=sorted(ROLES), required=True)
    permissions.add_argument("--user", required=True, help="the RabbitMQ user to grant them to")
    permissions.add_argument("--vhost", default="/")
    permissions.set_defaults(run=run_permissions)


def run_permissions(args: argparse.Namespace) -> int:
    """Print the command (configure, write, read patterns) for the operator to run."""
    granted = ROLES[args.role]
    print(f"# {args.role}: configure {granted.configure}  write {granted.write}  read {granted.read}")
    print(shlex.join(rabbitmqctl_command(args.role, args.user, args.vhost)))
    return EXIT_OK
