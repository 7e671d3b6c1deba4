"""The sorted reads (and the items written as JSON) in serve.py must answer every Query and Scan exactly as moto's own code does.

Random tables, random writes (puts, updates that move items between index partitions, deletes,
transactions) and, after each round of writes, random queries and scans paged to the end, each
asked twice: once of moto's own code and once of the sorted reads, whose cached partitions have
lived through every write before. Every page must be the same: items, counts, and the key to the
next page. Run by `make test` (tools/test.sh).
"""

import random
import unittest

import boto3
from moto import mock_aws
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoResult

import serve

TABLE = "differential"
PARTITIONS = ["p0", "p1", "p2"]
LETTERS = "abc"


def random_string(rng, longest=4):
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, longest)))


def random_item(rng):
    item = {"pk": {"S": rng.choice(PARTITIONS)}, "sk": {"S": random_string(rng)}, "v": {"N": str(rng.randint(0, 9))}}
    if rng.random() < 0.6:
        item["g1pk"] = {"S": rng.choice(["x", "y"])}
        if rng.random() < 0.8:  # some have the index's hash key but not its range key: not in it
            item["g1sk"] = {"S": random_string(rng, 3)}
    if rng.random() < 0.5:
        item["g2pk"] = {"S": "n"}
        item["g2sk"] = {"N": str(rng.choice([-10, -1.5, 0, 2, 10, 100, 2.25]))}
    return item


def random_condition(rng, attribute, numeric):
    """A key condition on a range key: (expression, values), or None for the whole partition."""
    if numeric:
        a, b = sorted([rng.choice([-20, -1.5, 0, 2, 50]), rng.choice([-1, 2, 10, 200])])
        choices = [
            (f"{attribute} BETWEEN :a AND :b", {":a": {"N": str(a)}, ":b": {"N": str(b)}}),
            (f"{attribute} < :a", {":a": {"N": str(b)}}),
            (f"{attribute} >= :a", {":a": {"N": str(a)}}),
        ]
    else:
        a, b = sorted([random_string(rng, 2), random_string(rng, 3)])
        choices = [
            (f"begins_with({attribute}, :a)", {":a": {"S": a}}),
            (f"{attribute} BETWEEN :a AND :b", {":a": {"S": a}, ":b": {"S": b}}),
            (f"{attribute} = :a", {":a": {"S": a}}),
            (f"{attribute} < :a", {":a": {"S": a}}),
            (f"{attribute} <= :a", {":a": {"S": a}}),
            (f"{attribute} > :a", {":a": {"S": a}}),
            (f"{attribute} >= :a", {":a": {"S": a}}),
        ]
    return rng.choice(choices + [None])


def random_query(rng):
    where = rng.choice([("pk", "sk", None, False), ("g1pk", "g1sk", "gsi1", False), ("g2pk", "g2sk", "gsi2", True)])
    hash_attribute, range_attribute, index, numeric = where
    hash_value = {"pk": rng.choice(PARTITIONS), "g1pk": rng.choice(["x", "y"]), "g2pk": "n"}[hash_attribute]
    expression, values = f"{hash_attribute} = :h", {":h": {"S": hash_value}}
    condition = random_condition(rng, range_attribute, numeric)
    if condition is not None:
        expression += " AND " + condition[0]
        values.update(condition[1])
    request = {
        "TableName": TABLE,
        "KeyConditionExpression": expression,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": rng.random() < 0.5,
        "Limit": rng.randint(1, 7),
    }
    if index:
        request["IndexName"] = index
    if rng.random() < 0.3:
        request["FilterExpression"] = "v > :v"
        request["ExpressionAttributeValues"][":v"] = {"N": "4"}
    if rng.random() < 0.2:
        request["Select"] = "COUNT"
    return request


def pages(client, operation, request):
    """Every page of a query or scan, followed to the end."""
    found, start = [], None
    while True:
        page = operation(**request, **({"ExclusiveStartKey": start} if start else {}))
        page.pop("ResponseMetadata", None)
        found.append(page)
        start = page.get("LastEvaluatedKey")
        if start is None:
            return found


def use_moto_reads(own):
    """moto's own query, scan and response writer, or the ones serve.py puts in their place."""
    if own:
        Table.query, Table.scan, DynamoResult.execute_result = serve._query, serve._scan, serve._execute_result
    else:
        Table.query, Table.scan = serve._query_sorted, serve._scan_sorted
        DynamoResult.execute_result = serve._execute_items_as_json


class SortedReadsAnswerAsMotoDoes(unittest.TestCase):
    def setUp(self):
        self.mock = mock_aws()
        self.mock.start()
        self.client = boto3.client("dynamodb", region_name="us-east-1")
        self.client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": kind}
                for name, kind in [("pk", "S"), ("sk", "S"), ("g1pk", "S"), ("g1sk", "S"), ("g2pk", "S"), ("g2sk", "N")]
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi1",
                    "KeySchema": [{"AttributeName": "g1pk", "KeyType": "HASH"}, {"AttributeName": "g1sk", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "gsi2",
                    "KeySchema": [{"AttributeName": "g2pk", "KeyType": "HASH"}, {"AttributeName": "g2sk", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
        )

    def tearDown(self):
        self.mock.stop()
        use_moto_reads(False)

    def both(self, operation_name, request):
        operation = getattr(self.client, operation_name)
        use_moto_reads(True)
        expected = pages(self.client, operation, request)
        use_moto_reads(False)
        answered = pages(self.client, operation, request)
        self.assertEqual(answered, expected, f"{operation_name} {request}")
        return expected

    def write(self, rng):
        choice = rng.random()
        if choice < 0.5:
            self.client.put_item(TableName=TABLE, Item=random_item(rng))
        elif choice < 0.7:
            # Moves the item to another partition of an index, or out of it.
            moved = random_item(rng)
            self.client.update_item(
                TableName=TABLE,
                Key={"pk": moved["pk"], "sk": moved["sk"]},
                UpdateExpression="SET g1pk = :g, g1sk = :s",
                ExpressionAttributeValues={":g": {"S": rng.choice(["x", "y"])}, ":s": {"S": random_string(rng, 3)}},
            )
        elif choice < 0.9:
            gone = random_item(rng)
            self.client.delete_item(TableName=TABLE, Key={"pk": gone["pk"], "sk": gone["sk"]})
        else:
            items = {}
            for _ in range(3):
                item = random_item(rng)
                items[(item["pk"]["S"], item["sk"]["S"])] = item
            self.client.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": i}} for i in items.values()])

    def test_random_writes_then_queries_and_scans(self):
        for seed in range(4):
            rng = random.Random(seed)
            answered = 0
            for _ in range(8):
                for _ in range(rng.randint(1, 25)):
                    self.write(rng)
                for _ in range(10):
                    answered += len(self.both("query", random_query(rng)))
                self.both("scan", {"TableName": TABLE, "Limit": rng.randint(1, 40)})
            self.assertGreater(answered, 80, "the queries must have paged")

    def test_a_change_to_an_item_is_seen_by_the_next_read_of_its_partition(self):
        item = {"pk": {"S": "p0"}, "sk": {"S": "a"}, "g1pk": {"S": "x"}, "g1sk": {"S": "a"}, "v": {"N": "1"}}
        self.client.put_item(TableName=TABLE, Item=item)
        query = {"TableName": TABLE, "IndexName": "gsi1", "KeyConditionExpression": "g1pk = :h",
                 "ExpressionAttributeValues": {":h": {"S": "x"}}}
        self.assertEqual(self.client.query(**query)["Count"], 1)
        self.client.update_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]},
                                UpdateExpression="SET g1pk = :y", ExpressionAttributeValues={":y": {"S": "y"}})
        self.assertEqual(self.client.query(**query)["Count"], 0)
        self.assertEqual(self.client.scan(TableName=TABLE)["Items"][0]["g1pk"], {"S": "y"})


if __name__ == "__main__":
    unittest.main()
