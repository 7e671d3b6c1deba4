"""iam.py: with enforcement on, a principal may do exactly what its policy allows, resource by
resource, and a DynamoDB transaction is allowed only when each of its items' own actions is —
as AWS decides, not as moto alone would (it asks about "*" and about the transaction as a whole).
Run by `make test` (tools/test.sh)."""

import json
import unittest

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws, settings

import iam

REGION = "us-east-1"


def client(service, key="test", secret="test"):
    return boto3.client(service, region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret)


@mock_aws
class EnforcedTest(unittest.TestCase):
    def setUp(self):
        self.dynamodb = client("dynamodb")
        self.dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[{"IndexName": "gsi1", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "ALL"}}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.table_arn = self.dynamodb.describe_table(TableName="t")["Table"]["TableArn"]
        iam.enforce()

    def tearDown(self):
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")

    def principal(self, actions, resources):
        """A user allowed `actions` on `resources`, as the devkit makes one from a template policy."""
        admin = client("iam")
        name = f"u{abs(hash((tuple(actions), tuple(resources))))}"
        admin.create_user(UserName=name)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]}
        admin.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = admin.create_access_key(UserName=name)["AccessKey"]
        return client("dynamodb", key["AccessKeyId"], key["SecretAccessKey"])

    def assertDenied(self, call):
        with self.assertRaises(ClientError) as denied:
            call()
        self.assertEqual(denied.exception.response["Error"]["Code"], "AccessDeniedException")
        self.assertIn("on resource: arn:aws:dynamodb:", denied.exception.response["Error"]["Message"])

    def test_the_harness_keys_may_do_anything_and_other_keys_only_what_they_are_given(self):
        self.dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}})
        reader = self.principal(["dynamodb:GetItem"], [self.table_arn])
        reader.get_item(TableName="t", Key={"pk": {"S": "a"}})
        self.assertDenied(lambda: reader.delete_item(TableName="t", Key={"pk": {"S": "a"}}))
        elsewhere = self.principal(["dynamodb:GetItem"], [self.table_arn + "-other"])
        self.assertDenied(lambda: elsewhere.get_item(TableName="t", Key={"pk": {"S": "a"}}))
        with self.assertRaises(ClientError):  # a key no one was given
            client("dynamodb", "AKIAUNKNOWN000000000", "x").get_item(TableName="t", Key={"pk": {"S": "a"}})

    def test_a_query_of_an_index_is_authorized_on_the_index(self):
        table_only = self.principal(["dynamodb:Query"], [self.table_arn])
        query = lambda c: c.query(TableName="t", IndexName="gsi1", KeyConditionExpression="g = :g",
                                  ExpressionAttributeValues={":g": {"S": "x"}})
        self.assertDenied(lambda: query(table_only))
        query(self.principal(["dynamodb:Query"], [self.table_arn, self.table_arn + "/index/*"]))

    def test_a_transaction_is_authorized_item_by_item_by_each_item_s_own_action(self):
        writer = self.principal(["dynamodb:PutItem", "dynamodb:UpdateItem"], [self.table_arn])
        put = {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}}}}
        update = {"Update": {"TableName": "t", "Key": {"pk": {"S": "c"}}, "UpdateExpression": "SET v = :v",
                             "ExpressionAttributeValues": {":v": {"N": "1"}}}}
        delete = {"Delete": {"TableName": "t", "Key": {"pk": {"S": "b"}}}}
        writer.transact_write_items(TransactItems=[put, update])
        self.assertDenied(lambda: writer.transact_write_items(TransactItems=[update, delete]))
        self.assertIn("Item", self.dynamodb.get_item(TableName="t", Key={"pk": {"S": "b"}}), "the refused one wrote nothing")


    def test_a_presigned_link_is_authorized_as_its_signer(self):
        s3 = client("s3")
        s3.create_bucket(Bucket="files")
        s3.put_object(Bucket="files", Key="exports/a.csv", Body=b"x")
        admin = client("iam")
        links = {}
        for name, resource in (("reader", "arn:aws:s3:::files/exports/*"), ("other", "arn:aws:s3:::files/elsewhere/*")):
            admin.create_user(UserName=name)
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource}]}
            admin.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
            key = admin.create_access_key(UserName=name)["AccessKey"]
            signer = client("s3", key["AccessKeyId"], key["SecretAccessKey"])
            links[name] = signer.generate_presigned_url("get_object", Params={"Bucket": "files", "Key": "exports/a.csv"})
        import requests
        self.assertEqual(requests.get(links["reader"]).content, b"x")
        self.assertEqual(requests.get(links["other"]).status_code, 403)


if __name__ == "__main__":
    unittest.main()
