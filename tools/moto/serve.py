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

And one more cost: moto answers every Query and Scan by sorting the whole table (or partition) and
walking it from the start, so a page cost time in proportion to the table, not the page (1.5 s a
page in a partition of 100,000 items). The sorted reads below keep each partition sorted until a
write touches it and find a page by bisection; they answer as moto does, item for item. An index
partition a write touched is sorted again from its members, which every write keeps up to date,
not found again by walking the whole table (0.4 s at 600,000 items, while every other request
waits: the scan's due list, which every sync writes to, is read like that every page).

With `--iam`, IAM is enforced as AWS enforces it (`iam.py`).
"""

import argparse
import copy
import inspect
import itertools
import json
import os
import signal
import sys
import threading
import time
from bisect import bisect_left, bisect_right

from werkzeug.serving import run_simple

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.responses import DynamoResult
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import MultipleTransactionsException, TransactionCanceledException
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

import iam  # requests name their resources, transactions are authorized by item, as in AWS

_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


class _NoCopy:
    """Stands in for the `copy` module inside moto's transaction, once the conditions have passed."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value


# ---- Transactions in flight, as DynamoDB has them ----------------------------------------------
#
# DynamoDB commits a transaction in two phases; while one is in flight, another transaction that
# touches any of its items (a ConditionCheck too) is cancelled with `TransactionConflict`. Requests
# are served one at a time here, so none ever overlap: with a hold set (`POST
# /_local/dynamodb/transaction-hold?ms=N`, 0 by default), each committed transaction's items stay
# held for N ms after it, as if it were still committing, and a transaction meeting one is
# cancelled as DynamoDB would cancel it. What writers racing on shared items cost in retries can be
# measured here (`make bench`), not only on AWS. `&table=T` holds the items of table T only, so a
# test can hold its own table while other tests share the emulator.

HOLD_PATH = "/_local/dynamodb/transaction-hold"
_holds = {}  # table name, or "*" for every table -> seconds
_held = {}  # item identity -> time.monotonic() until which a transaction holds it


def _in_flight(identities):
    now = time.monotonic()
    for identity, until in list(_held.items()):
        if until <= now:
            del _held[identity]
    return {identity for identity in identities if identity in _held}


def _hold_after_commit(identities):
    now = time.monotonic()
    for identity in identities:
        seconds = _holds.get(identity[0], _holds.get("*", 0.0))
        if seconds > 0:
            _held[identity] = now + seconds


def set_transaction_hold(environ, start_response):
    """Sets the hold from the query string's `ms` (for `table`, or every table); answers the hold
    in force there."""
    query = _query_string(environ)
    table = query.get("table", "*")
    setting = {"seconds": _holds.get(table, 0.0)}

    def changed():
        _holds[table] = setting["seconds"]
        for identity in [i for i in _held if table in ("*", i[0])]:
            del _held[identity]

    return _set_milliseconds(environ, start_response, setting, changed)


# ---- The time a request takes on AWS --------------------------------------------------------------
#
# An AWS call takes milliseconds on the wire and in the service; here it takes what moto needs.
# With a latency set (`POST /_local/latency?ms=N`, 0 by default), every AWS request waits N ms
# before it is served, outside the lock that serves table requests one at a time, so that callers
# working in parallel overlap their waits as they do on AWS: what parallel work gains can be
# measured here (`make bench`'s relay drain rate).

LATENCY_PATH = "/_local/latency"
_latency = {"seconds": 0.0}


def set_latency(environ, start_response):
    """Sets the latency from the query string's `ms`; answers the latency in force."""
    return _set_milliseconds(environ, start_response, _latency, lambda: None)


def wait_latency():
    if _latency["seconds"] > 0:
        time.sleep(_latency["seconds"])


def _query_string(environ):
    return dict(pair.split("=", 1) for pair in environ.get("QUERY_STRING", "").split("&") if "=" in pair)


def _set_milliseconds(environ, start_response, setting, on_change):
    query = _query_string(environ)
    if environ.get("REQUEST_METHOD") == "POST" and "ms" in query:
        setting["seconds"] = max(0.0, float(query["ms"]) / 1000)
        on_change()
    body = json.dumps({"ms": setting["seconds"] * 1000}).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _transact_checked_first(self, transact_items):
    ops, identities = [], []
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
        if identity in identities:
            raise MultipleTransactionsException()
        ops.append((op, key))
        identities.append(identity)
    held = _in_flight(identities)
    if held:
        raise TransactionCanceledException(
            [("TransactionConflict", "Transaction is ongoing for the item", None) if i in held else (None, None, None)
             for i in identities]
        )
    reasons, failed = [], False
    for op, key in ops:
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
        result = _transact_write_items(self, transact_items)
    finally:
        dynamodb_models.copy = copy
    _hold_after_commit(identities)
    return result


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_checked_first

# ---- Reads in time proportional to the page, not the table ------------------------------------
#
# moto answers every Query and Scan by sorting every candidate item and then walking from the
# first one to the ExclusiveStartKey, so paging through a partition of n items costs n per page.
# Here each partition (of the table or of an index) is sorted once and kept until a write touches
# it; a page is found by bisection. Whatever this does not cover falls through to moto's own code.

_query = Table.query
_query_signature = inspect.signature(_query)
_scan = Table.scan
_put_item = Table.put_item
_delete_item = Table.delete_item
_update_item = dynamodb_models.DynamoDBBackend.update_item

_RANGE_BOUNDS = {
    "=": lambda keys, a: (bisect_left(keys, a, key=_first), bisect_right(keys, a, key=_first)),
    "<": lambda keys, a: (0, bisect_left(keys, a, key=_first)),
    "<=": lambda keys, a: (0, bisect_right(keys, a, key=_first)),
    ">": lambda keys, a: (bisect_right(keys, a, key=_first), len(keys)),
    ">=": lambda keys, a: (bisect_left(keys, a, key=_first), len(keys)),
    "BETWEEN": lambda keys, a, b: (bisect_left(keys, a, key=_first), bisect_right(keys, b, key=_first)),
    # Cutting every key to the prefix's length keeps them in order, so the matches are one run.
    "BEGINS_WITH": lambda keys, a: (
        bisect_left(keys, a, key=_first),
        bisect_right(keys, a, key=lambda k: k[0][: len(a)]),
    ),
}


def _first(key):
    return key[0]


def _value(attribute):
    return None if attribute is None else attribute.cast_value


def _simple_index(table, index_name):
    """(hash attribute, range attribute or None) of an index with one of each at most."""
    index = {i.name: i for i in table.all_indexes()}.get(index_name)
    if index is None:
        return None
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) > 1:
        return None
    return hashes[0], (ranges[0] if ranges else None)


def _all_items_unsorted(table):
    for partition in table.items.values():
        if table.range_key_attr:
            yield from partition.values()
        else:
            yield partition


def _sorted_partition(table, index_name, hash_value):
    cache = table.__dict__.setdefault("_sorted_partitions", {})
    found = cache.get((index_name, hash_value))
    if found is not None:
        return found
    if index_name is None:
        partition = table.items.get(hash_value)
        if not partition:
            items = []
        else:
            items = list(partition.values()) if table.range_key_attr else [partition]
        keyed = [((_value(item.range_key),) if table.range_key_attr else (), item) for item in items]
    else:
        _, range_attribute = _simple_index(table, index_name)
        members, _ = _index_members(table, index_name)
        items = [_stored(table, key) for key in members.get(hash_value, ())]
        keyed = [(_index_sort_key(table, item.attrs, range_attribute), item) for item in items]
    keyed.sort(key=_first)
    found = ([k for k, _ in keyed], [i for _, i in keyed])
    cache[(index_name, hash_value)] = found
    return found


def _item_key(table, item):
    return item.hash_key, (item.range_key if table.range_key_attr else None)


def _stored(table, key):
    """The item stored under a table key, or None."""
    hash_value, range_value = key
    partition = table.items.get(hash_value)
    if partition is None or not table.range_key_attr:
        return partition
    return partition.get(range_value)


def _index_partition(table, index_name, item):
    """The hash value of the index partition `item` is in, or None when the index leaves it out."""
    hash_attribute, range_attribute = _simple_index(table, index_name)
    found_hash = item.attrs.get(hash_attribute)
    if found_hash is None:
        return None
    if range_attribute is not None and range_attribute not in item.attrs:
        return None  # sparse: an item without the index's range key is not in the index
    return found_hash


def _index_members(table, index_name):
    """(index partition -> table keys of its items, table key -> its index partition): found by one
    walk of the table the first time, then kept by every write (`_forget`)."""
    built = table.__dict__.setdefault("_index_members", {})
    if index_name not in built:
        members, where = {}, {}
        for item in _all_items_unsorted(table):
            partition = _index_partition(table, index_name, item)
            if partition is not None:
                key = _item_key(table, item)
                members.setdefault(partition, set()).add(key)
                where[key] = partition
        built[index_name] = (members, where)
    return built[index_name]


def _index_sort_key(table, attributes, range_attribute):
    table_keys = (_value(attributes.get(table.hash_key_attr)), _value(attributes.get(table.range_key_attr)))
    return table_keys if range_attribute is None else (_value(attributes.get(range_attribute)),) + table_keys


def _start_key(table, start, range_attribute, index_name):
    """The sort key of an ExclusiveStartKey, given as raw attribute values."""
    attributes = {name: DynamoType(raw) for name, raw in start.items()}
    if index_name is None:
        return (_value(attributes.get(table.range_key_attr)),) if table.range_key_attr else ()
    return _index_sort_key(table, attributes, range_attribute)


def _forget(table, item):
    """Drops every cached read a write to `item` may change: its partition in the table and in each index."""
    table.__dict__.pop("_sorted_table", None)
    if item is None:
        return
    cache = table.__dict__.setdefault("_sorted_partitions", {})
    cache.pop((None, item.hash_key), None)
    for index in table.all_indexes():
        for key in index.schema:
            if key["KeyType"] == "HASH" and key["AttributeName"] in item.attrs:
                cache.pop((index.name, item.attrs[key["AttributeName"]]), None)
    _move_members(table, _item_key(table, item), cache)


def _move_members(table, key, cache):
    """Puts the item now stored under `key` (if any) in the index partitions it is in now, out of
    those it was in, and forgets both partitions' sorted reads."""
    stored = _stored(table, key)
    for index_name, (members, where) in table.__dict__.get("_index_members", {}).items():
        was = where.pop(key, None)
        if was is not None:
            members[was].discard(key)
            cache.pop((index_name, was), None)
        now = None if stored is None else _index_partition(table, index_name, stored)
        if now is not None:
            members.setdefault(now, set()).add(key)
            where[key] = now
            cache.pop((index_name, now), None)


def _page(table, items, lo, hi, forward, limit, index_name):
    """Items lo..hi in order until the limit or 1 MB, as moto would count them. (moto copies the
    page too; nothing changes it here, and requests are served one at a time.)"""
    results, size = [], 0
    walk = range(lo, hi) if forward else range(hi - 1, lo - 1, -1)
    # moto walks on past the key condition's matches to the partition's end, and ends the page
    # (with a key to the next one) at the first item that would not fit, whether it matches or not.
    beyond = hi if forward else lo - 1
    for i in itertools.chain(walk, [beyond]):
        if not 0 <= i < len(items):
            break
        item = items[i]
        item_size = item.size()
        if (limit is not None and len(results) == limit) or size + item_size > RESULT_SIZE_LIMIT:
            return results, table._get_last_evaluated_key(results[-1], index_name)
        if i == beyond:
            break
        results.append(item)
        size += item_size
    return results, None


def _query_sorted(self, *args, **kwargs):
    call = _query_signature.bind(self, *args, **kwargs)
    call.apply_defaults()
    a = call.arguments
    plan = _query_plan(self, a)
    if plan is None:
        return _query(*call.args, **call.kwargs)
    hash_value, range_attribute = plan
    index_name = a["index_name"]
    keys, items = _sorted_partition(self, index_name, hash_value)
    lo, hi = 0, len(keys)
    try:
        if a["range_comparison"]:
            bounds = _RANGE_BOUNDS[a["range_comparison"]]
            lo, hi = bounds(keys, *[o.cast_value for o in a["range_objs"]])
            hi = max(lo, hi)
        forward = a["scan_index_forward"] is not False
        if a["exclusive_start_key"] is not None:
            start = _start_key(self, a["exclusive_start_key"], range_attribute, index_name)
            if forward:
                lo = max(lo, bisect_right(keys, start, lo, hi))
            else:
                hi = min(hi, bisect_left(keys, start, lo, hi))
    except TypeError:  # values of another type than the key's: moto's own code says what is wrong
        return _query(*call.args, **call.kwargs)
    results, last = _page(self, items, lo, hi, forward, a["limit"], index_name)
    scanned = len(results)
    if index_name:
        index = self.get_index(index_name)
        results = [index.project(r) for r in results]
    if a["filter_expression"] is not None:
        results = [item for item in results if a["filter_expression"].expr(item)]
    if a["projection_expressions"]:
        results = [r.project(a["projection_expressions"]) for r in results]
    return results, scanned, last


def _query_plan(table, a):
    """(hash value, range attribute) when the query is one this fast path answers as moto would."""
    if a["filter_kwargs"] or len(a["range_key_conditions"] or []) > 1:
        return None
    if a["range_comparison"] is not None and a["range_comparison"] not in _RANGE_BOUNDS:
        return None
    index_name = a["index_name"]
    if index_name is None:
        if a["hash_key"] is None:
            return None
        return a["hash_key"], table.range_key_attr
    simple = _simple_index(table, index_name)
    if simple is None or (a["consistent_read"] and index_name in [i.name for i in table.global_indexes or []]):
        return None
    hash_attribute, range_attribute = simple
    conditions = a["hash_key_conditions"] or []
    if len(conditions) > 1 or (conditions and conditions[0][0] != hash_attribute):
        return None
    hash_value = conditions[0][1] if conditions else a["hash_key"]
    if hash_value is None or (a["range_comparison"] and range_attribute is None):
        return None
    return hash_value, range_attribute


def _scan_sorted(self, filters, limit, exclusive_start_key, filter_expression=None, index_name=None,
                 consistent_read=False, projection_expression=None, segments=(None, None)):
    if filters or index_name or segments != (None, None):
        return _scan(self, filters, limit, exclusive_start_key, filter_expression, index_name,
                     consistent_read, projection_expression, segments=segments)
    found = self.__dict__.get("_sorted_table")
    if found is None:
        keyed = [((_value(i.hash_key), _value(i.range_key)), i) for i in _all_items_unsorted(self)]
        keyed.sort(key=_first)
        found = self.__dict__["_sorted_table"] = ([k for k, _ in keyed], [i for _, i in keyed])
    keys, items = found
    lo = 0
    if exclusive_start_key is not None:
        start = {name: DynamoType(raw) for name, raw in exclusive_start_key.items()}
        lo = bisect_right(keys, (_value(start.get(self.hash_key_attr)), _value(start.get(self.range_key_attr))))
    results, last = _page(self, items, lo, len(keys), True, limit, None)
    scanned = len(results)
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    if projection_expression:
        results = [r.project(projection_expression) for r in results]
    return results, scanned, last


def _put_item_forgetting(self, item_attrs, *args, **kwargs):
    try:
        hash_value = DynamoType(item_attrs[self.hash_key_attr])
        range_value = DynamoType(item_attrs[self.range_key_attr]) if self.range_key_attr else None
        _forget(self, self.get_item(hash_value, range_value))
    except (KeyError, ValueError, MockValidationException):
        pass  # moto's put_item says what is wrong with the item
    item = _put_item(self, item_attrs, *args, **kwargs)
    _forget(self, item)
    return item


def _delete_item_forgetting(self, hash_key, range_key):
    item = _delete_item(self, hash_key, range_key)
    _forget(self, item)
    return item


def _update_item_forgetting(self, table_name, key, *args, **kwargs):
    # moto updates the item in place, so its partitions are forgotten both before and after.
    table = self.get_table(table_name)
    try:
        keys = self.get_keys_value(table, key)
    except MockValidationException:
        return _update_item(self, table_name, key, *args, **kwargs)
    _forget(table, table.get_item(*keys))
    try:
        return _update_item(self, table_name, key, *args, **kwargs)
    finally:
        _forget(table, table.get_item(*keys))


Table.query = _query_sorted
Table.scan = _scan_sorted
Table.put_item = _put_item_forgetting
Table.delete_item = _delete_item_forgetting
dynamodb_models.DynamoDBBackend.update_item = _update_item_forgetting

# moto writes every response through a serializer that walks the botocore model for each value:
# a millisecond an item, nine tenths of the time of a page. The items of a Query or Scan are
# already in DynamoDB's wire format, so they are written as JSON directly, into the envelope the
# serializer made for the rest of the answer.
_execute_result = DynamoResult.execute_result


def _execute_items_as_json(self, context):
    result = self.result
    if context.operation_model.name not in ("Query", "Scan") or "Items" not in result:
        return _execute_result(self, context)
    try:
        items = json.dumps(result["Items"], separators=(",", ":"))
    except TypeError:  # binary values: the serializer writes them in base64
        return _execute_result(self, context)
    self._result = {name: value for name, value in result.items() if name != "Items"}
    try:
        status, headers, body = _execute_result(self, context)
    finally:
        self._result = result
    envelope = json.loads(body)  # Count, ScannedCount, LastEvaluatedKey: small
    opening = json.dumps(envelope, separators=(",", ":"))[:-1] + ("," if envelope else "")
    return status, headers, opening + '"Items":' + items + "}"


DynamoResult.execute_result = _execute_items_as_json


SENT_EMAILS_PATH = "/_local/ses/messages"

# moto keeps one body of an email sent with both a text and an HTML part (the HTML): the local
# inbox keeps both, by message id, as a mail client receives them.
from moto.sesv2.responses import SESV2Response

_send_email_v2 = SESV2Response.send_email
_sent_parts = {}  # message id -> {"text": ..., "html": ...}


def _send_email_keeping_both_parts(self):
    result = _send_email_v2(self)
    simple = (json.loads(self.body).get("Content") or {}).get("Simple")
    if simple:
        body = simple.get("Body", {})
        _sent_parts[json.loads(result)["MessageId"]] = {
            "text": body.get("Text", {}).get("Data"),
            "html": body.get("Html", {}).get("Data"),
        }
    return result


SESV2Response.send_email = _send_email_keeping_both_parts


def sent_emails(start_response):
    """Every email SES was asked to send, as JSON: the local inbox, each with its text (`body`)
    and its HTML (`html`, null when it had none). (moto's /moto-api/data.json has them too, but it
    serialises every service's whole state, tables included.)"""
    from moto.ses.models import ses_backends

    sent = []
    for account in ses_backends.values():
        for backend in account.values():
            for message in getattr(backend, "sent_messages", []):
                if hasattr(message, "subject"):
                    parts = _sent_parts.get(message.id, {})
                    sent.append(
                        {
                            "id": message.id,
                            "source": message.source,
                            "to": message.destinations.get("ToAddresses", []),
                            "subject": message.subject,
                            "body": parts.get("text") or message.body,
                            "html": parts.get("html"),
                        }
                    )
    body = json.dumps(sent).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    parser.add_argument("--iam", action="store_true",
                        help="enforce IAM: test/test may do anything, every other key only what its policies allow")
    args = parser.parse_args()
    if args.iam:
        iam.enforce()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_table_request_at_a_time(environ, start_response):
        if environ.get("PATH_INFO") == SENT_EMAILS_PATH:
            return sent_emails(start_response)
        if environ.get("PATH_INFO") == HOLD_PATH:
            with lock:
                return set_transaction_hold(environ, start_response)
        if environ.get("PATH_INFO") == LATENCY_PATH:
            return set_latency(environ, start_response)
        wait_latency()
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            # Consume the response inside the lock: the work may happen while it is iterated.
            return list(app(environ, start_response))

    run_simple(args.host, args.port, one_table_request_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
