"""IAM on the emulator as AWS enforces it, so that a call a function's policy does not allow fails
its test here rather than its first day in AWS.

moto (5.2.5) checks a caller's policies when its enforcement is on, but two ways unlike AWS:

- For DynamoDB, SES v2, EventBridge and SSM it asks about the resource "*", which no statement
  naming a resource matches: every scoped policy would deny everything. Here each request names
  its resource as AWS does: the table (or the index a query reads), the sending identity, the bus,
  the parameter.
- It cannot authorize a presigned S3 link under enforcement (it wants an Authorization header and
  answers 500). AWS authorizes it as its signer: so does this (the signature and expiry moto never
  checked stay unchecked).
- It authorizes a DynamoDB transaction as an action of its own (`TransactWriteItems`), where AWS
  authorizes each item by that item's action (`PutItem`, `UpdateItem`, `DeleteItem`,
  `ConditionCheckItem`; `GetItem` in `TransactGetItems`) on its table. So does this, so a policy
  need not (and must not) grant the transaction actions to pass here.

`enforce()` turns enforcement on after making the harness principal: its keys are the documented
`test`/`test` and it may do anything, so the tools, the tests and the seeding run as before while
each function runs as a principal of its own, holding exactly its template policy (made by
`tools/devkit/src/principals.rs`).
"""

import json
from urllib.parse import parse_qs, urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.dynamodb.responses import DynamoHandler
from moto.events.responses import EventsHandler
from moto.s3.exceptions import S3AccessDeniedError
from moto.iam.access_control import IAMPolicy, IAMRequest, IAMUserAccessKey, PermissionResult
from moto.iam.models import iam_backends
from moto.sesv2.responses import SESV2Response
from moto.ssm.responses import SimpleSystemManagerResponse

HARNESS_USER = "harness"
HARNESS_KEY = "test"

ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
                "Get": "GetItem"}


def _body(handler):
    """The request's JSON body (moto may have parsed it already)."""
    if isinstance(handler.body, dict):
        return handler.body
    try:
        return json.loads(handler.body or "{}")
    except (TypeError, ValueError):
        return {}


def _arn(handler, service, resource):
    return f"arn:aws:{service}:{handler.region}:{handler.current_account}:{resource}"


def dynamodb_requests(handler):
    """(action, resource) pairs a DynamoDB request is authorized by, as AWS authorizes it."""
    body, action = _body(handler), handler._get_action()
    table = lambda name: _arn(handler, "dynamodb", f"table/{name}")
    if action in ("TransactWriteItems", "TransactGetItems"):
        pairs = []
        for item in body.get("TransactItems", []):
            for kind, operation in item.items():
                pairs.append((ITEM_ACTIONS[kind], table(operation["TableName"])))
        return pairs
    if action in ("BatchWriteItem", "BatchGetItem"):
        return [(action, table(name)) for name in body.get("RequestItems", {})]
    if "TableName" not in body:
        return [(action, "*")]
    resource = table(body["TableName"])
    if body.get("IndexName"):
        resource += f"/index/{body['IndexName']}"
    return [(action, resource)]


def _authorize_each(handler, pairs):
    for action, resource in pairs:
        handler._authenticate_and_authorize_action(
            lambda **request: IAMRequest(**{**request, "action": action}), resource
        )


def _dynamodb_authorize(self, resource="*"):
    _authorize_each(self, dynamodb_requests(self))


def _sesv2_resource(self):
    sender = _body(self).get("FromEmailAddress")
    return _arn(self, "ses", f"identity/{sender}") if sender else "*"


def _events_resource(self):
    entries = _body(self).get("Entries") or [{}]
    bus = entries[0].get("EventBusName", "default")
    return bus if bus.startswith("arn:") else _arn(self, "events", f"event-bus/{bus}")


def _ssm_resource(self):
    name = _body(self).get("Name")
    if not name:
        return "*"
    return name if name.startswith("arn:") else _arn(self, "ssm", f"parameter{name if name.startswith('/') else '/' + name}")


def _as_aws_denies(authorize):
    """A refusal as these JSON services give it (moto answers in XML, without the resource)."""

    def authorize_or_deny(self, request_cls, resource="*"):
        try:
            authorize(self, request_cls, resource)
        except AccessDeniedError as denied:
            raise JsonRESTError("AccessDeniedException", f"{denied.message} on resource: {resource}") from None

    return authorize_or_deny


for _handler in (DynamoHandler, SESV2Response, EventsHandler, SimpleSystemManagerResponse):
    _handler._authenticate_and_authorize_action = _as_aws_denies(ActionAuthenticatorMixin._authenticate_and_authorize_action)
DynamoHandler._authenticate_and_authorize_normal_action = _dynamodb_authorize
SESV2Response._determine_resource = _sesv2_resource
EventsHandler._determine_resource = _events_resource
SimpleSystemManagerResponse._determine_resource = _ssm_resource


_s3_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_s3_action


def _s3_signed_or_presigned(self, bucket_name=None, key_name=None):
    query = parse_qs(urlparse(self.uri).query)
    # The signer's key: SigV4 (`X-Amz-Credential=KEY/date/…`, the Rust SDK's) or SigV2 (boto3's).
    credential = (query.get("X-Amz-Credential") or query.get("AWSAccessKeyId") or [None])[0]
    enforcing = ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
    if not enforcing or "Authorization" in self.headers or credential is None:
        return _s3_authorize(self, bucket_name, key_name)
    signer = IAMUserAccessKey(self.current_account, "aws", credential.split("/")[0], {})
    action = f"s3:{self.data['Action']}"
    resource = f"arn:aws:s3:::{bucket_name}/{key_name}" if key_name else f"arn:aws:s3:::{bucket_name}"
    results = [IAMPolicy(policy).is_action_permitted(action, resource) for policy in signer.collect_policies()]
    if PermissionResult.DENIED in results or PermissionResult.PERMITTED not in results:
        raise S3AccessDeniedError()


ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = _s3_signed_or_presigned


def enforce(account_id="123456789012"):
    """The harness principal (`test`/`test`, allowed everything), then enforcement from now on."""
    backend = iam_backends[account_id]["aws"]
    if HARNESS_USER not in backend.users:
        backend.create_user("us-east-1", HARNESS_USER)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        backend.put_user_policy(HARNESS_USER, "everything", json.dumps(policy))
        key = backend.create_access_key(HARNESS_USER)
        key.access_key_id, key.secret_access_key = HARNESS_KEY, HARNESS_KEY
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
