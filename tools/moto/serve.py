"""Runs the moto server (the local AWS emulator) one request at a time, with cheap transactions.

moto 5.2.5 starts every DynamoDB TransactWriteItems by deep-copying each table it touches, so that
it can roll back. Two problems follow, both fixed here without changing what the API does:

- A write to the same table from another request thread during that copy fails with a 500
  ("dictionary changed size during iteration"). Our writers race on purpose (that is what the
  conditions are for), so DynamoDB requests are served one at a time, which is what moto can do
  correctly. Other services are not held up: an SQS long poll waits seconds, and must not stop
  the table meanwhile.
- The copy costs time in proportion to the table: with the demo data (tens of thousands of
  items) every transaction took a second. DynamoDB forbids two operations on one item in a
  transaction, so every condition can be checked before anything is written; once all pass,
  nothing needs rolling back, and the copy is skipped.

And one more cost: moto answers every Query by sorting every item of the table and walking them
all (400 ms per query at 20,000 items). A table query now reads only its partition; an index query
still walks the table, unsorted, comparing one attribute per item.
"""

import argparse
import copy
import json
import os
import signal
import sys
import threading

from werkzeug.serving import run_simple

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.table import Table
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

_query = Table.query
_all_items = Table.all_items


def _query_one_partition(self, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    conditions = kwargs.get("hash_key_conditions") or []
    if not index_name and hash_key is not None:
        self._partition_hint = ("table", hash_key)
    elif index_name and len(conditions) == 1:
        self._partition_hint = ("index", conditions[0][0], conditions[0][1])
    elif index_name and not conditions and hash_key is not None:
        index = {i.name: i for i in self.all_indexes()}.get(index_name)
        hashes = [k["AttributeName"] for k in (index.schema if index else []) if k["KeyType"] == "HASH"]
        if len(hashes) == 1:
            self._partition_hint = ("index", hashes[0], hash_key)
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        self._partition_hint = None


def _items_of_hinted_partition(self):
    hint = getattr(self, "_partition_hint", None)
    if hint is None:
        return _all_items(self)
    if hint[0] == "table":
        partition = self.items.get(hint[1])
        if partition is None:
            return []
        return list(partition.values()) if self.range_key_attr else [partition]
    # Unsorted: moto's own all_items() sorts the whole table, and the query sorts what matches.
    _, attribute, value = hint
    matching = []
    partitions = self.items.values()
    items = (item for p in partitions for item in p.values()) if self.range_key_attr else iter(partitions)
    for item in items:
        found = item.attrs.get(attribute)
        if found is not None and found.type == value.type and found.value == value.value:
            matching.append(item)
    return matching


Table.query = _query_one_partition
Table.all_items = _items_of_hinted_partition


SENT_EMAILS_PATH = "/_local/ses/messages"


def sent_emails(start_response):
    """Every email SES was asked to send, as JSON: the local inbox. (moto's /moto-api/data.json
    has them too, but it serialises every service's whole state, tables included.)"""
    from moto.ses.models import ses_backends

    sent = []
    for account in ses_backends.values():
        for backend in account.values():
            for message in getattr(backend, "sent_messages", []):
                if hasattr(message, "subject"):
                    sent.append(
                        {
                            "id": message.id,
                            "source": message.source,
                            "to": message.destinations.get("ToAddresses", []),
                            "subject": message.subject,
                            "body": message.body,
                        }
                    )
    body = json.dumps(sent).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_table_request_at_a_time(environ, start_response):
        if environ.get("PATH_INFO") == SENT_EMAILS_PATH:
            return sent_emails(start_response)
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            # Consume the response inside the lock: the work may happen while it is iterated.
            return list(app(environ, start_response))

    run_simple(args.host, args.port, one_table_request_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
