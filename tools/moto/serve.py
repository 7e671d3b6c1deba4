"""Runs the moto server (the local AWS emulator) one request at a time, with cheap transactions.

moto 5.2.5 starts every DynamoDB TransactWriteItems by deep-copying each table it touches, so that
it can roll back. Two problems follow, both fixed here without changing what the API does:

- A write to the same table from another request thread during that copy fails with a 500
  ("dictionary changed size during iteration"). Our writers race on purpose (that is what the
  conditions are for), so requests are served one at a time, which is what moto can do correctly.
- The copy costs time in proportion to the table: with the demo data (tens of thousands of
  items) every transaction took a second. DynamoDB forbids two operations on one item in a
  transaction, so every condition can be checked before anything is written; once all pass,
  nothing needs rolling back, and the copy is skipped.
"""

import argparse
import copy
import os
import signal
import sys
import threading

from werkzeug.serving import run_simple

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import MultipleTransactionsException, TransactionCanceledException
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


class _NoCopy:
    """Stands in for the `copy` module inside moto's transaction, once the conditions have passed."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value


def _transact_checked_first(self, transact_items):
    reasons, seen, failed = [], set(), False
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table = self.get_table(op["TableName"])
        if op_type == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        identity = (op["TableName"], str(sorted(key.items())))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(self.get_item(op["TableName"], key)):
                reasons.append(("ConditionalCheckFailed", "The conditional request failed", None))
                failed = True
                continue
        reasons.append((None, None, None))
    if failed:
        raise TransactionCanceledException(reasons)
    dynamodb_models.copy = _NoCopy
    try:
        return _transact_write_items(self, transact_items)
    finally:
        dynamodb_models.copy = copy


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_checked_first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # Consume the response inside the lock: the work may happen while it is iterated.
            return list(app(environ, start_response))

    run_simple(args.host, args.port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
