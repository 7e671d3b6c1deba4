"""The hold of serve.py: a transaction meeting an item another transaction holds is cancelled with
`TransactionConflict`, as DynamoDB cancels it while the other is in flight; others go through,
and with no hold (the default) nothing is ever held. And its latency: set, every request waits
it; by default none. Run by `make test` (tools/test.sh)."""

import json
import time
import unittest

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

import serve

TABLE = "held"


def put(pk):
    return {"Put": {"TableName": TABLE, "Item": {"pk": {"S": pk}, "v": {"N": "1"}}}}


def check(pk):
    return {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": pk}}, "ConditionExpression": "attribute_exists(pk)"}}


class TransactionHold(unittest.TestCase):
    def setUp(self):
        self.mock = mock_aws()
        self.mock.start()
        self.db = boto3.client("dynamodb", region_name="us-east-1")
        self.db.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def tearDown(self):
        serve._holds.clear()
        serve._held.clear()
        self.mock.stop()

    def test_a_transaction_meeting_a_held_item_is_cancelled_with_a_conflict_and_others_go_through(self):
        serve._holds["*"] = 5.0
        self.db.transact_write_items(TransactItems=[put("a"), put("b")])
        with self.assertRaises(ClientError) as cancelled:
            self.db.transact_write_items(TransactItems=[put("c"), check("a")])
        reasons = [r["Code"] for r in cancelled.exception.response["CancellationReasons"]]
        self.assertEqual(reasons, ["None", "TransactionConflict"])
        self.assertNotIn("Item", self.db.get_item(TableName=TABLE, Key={"pk": {"S": "c"}}))
        self.db.transact_write_items(TransactItems=[put("d")])

    def test_the_hold_ends(self):
        serve._holds["*"] = 0.05
        self.db.transact_write_items(TransactItems=[put("a")])
        time.sleep(0.1)
        self.db.transact_write_items(TransactItems=[check("a"), put("b")])

    def test_a_hold_for_one_table_holds_that_tables_items_only(self):
        other = "other"
        self.db.create_table(
            TableName=other,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        answer = serve.set_transaction_hold(
            {"REQUEST_METHOD": "POST", "QUERY_STRING": f"ms=5000&table={TABLE}"}, lambda *_: None
        )
        self.assertEqual(json.loads(answer[0])["ms"], 5000)
        on_other = {"Put": {"TableName": other, "Item": {"pk": {"S": "a"}}}}
        self.db.transact_write_items(TransactItems=[put("a"), on_other])
        self.db.transact_write_items(TransactItems=[on_other])
        with self.assertRaises(ClientError):
            self.db.transact_write_items(TransactItems=[check("a")])

    def test_with_no_hold_nothing_is_held(self):
        self.db.transact_write_items(TransactItems=[put("a")])
        self.db.transact_write_items(TransactItems=[check("a"), put("b")])
        self.assertEqual(serve._held, {})


class Latency(unittest.TestCase):
    def tearDown(self):
        serve._latency["seconds"] = 0.0

    def set(self, ms):
        answer = serve.set_latency({"REQUEST_METHOD": "POST", "QUERY_STRING": f"ms={ms}"}, lambda *_: None)
        return json.loads(answer[0])["ms"]

    def test_a_latency_set_is_waited_by_every_request_and_zero_is_none(self):
        self.assertEqual(self.set(60), 60)
        started = time.monotonic()
        serve.wait_latency()
        self.assertGreaterEqual(time.monotonic() - started, 0.06)
        self.assertEqual(self.set(0), 0)
        started = time.monotonic()
        serve.wait_latency()
        self.assertLess(time.monotonic() - started, 0.06)


if __name__ == "__main__":
    unittest.main()
