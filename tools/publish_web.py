"""Puts the page into its bucket, as CloudFront serves it: the files of web/ (top level), the
OpenID client library it signs in with (pinned in web/package-lock.json), and its /config.json.

`make deploy` runs it against the stack's bucket (`--stack`, reading the stack's outputs), and
`make dev` and the browser tests against the local web bucket (`--resources`, `--config`), so the
page people use locally is the one a deploy uploads.

A file already there with the same bytes and type is left alone; a file no longer in web/ is
removed; when anything changed and a distribution is named, its cache is invalidated. Run twice, it
changes nothing the second time.
"""

import argparse
import hashlib
import json
import os
import pathlib
import sys

import boto3
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parent.parent
WEB = ROOT / "web"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}

# Served under the page's own origin (the Content-Security-Policy allows scripts from 'self' only).
VENDORED = {"vendor/oidc-client-ts.min.js": "node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js"}

# Browsers and CloudFront ask again whether a file changed (a 304 when it did not), so a deploy
# shows at once; the files are small. (The deploy still invalidates the distribution's cache.)
CACHE_CONTROL = "no-cache"


def page_files(web=WEB):
    """{key: bytes} of everything the page is, besides its config."""
    files = {}
    for path in sorted(web.iterdir()):
        if path.is_file() and path.suffix in CONTENT_TYPES and path.suffix != ".json":
            files[path.name] = path.read_bytes()
    for key, source in VENDORED.items():
        path = web / source
        if not path.is_file():
            sys.exit(f"publish_web: {path} is missing: install web/'s packages first (cd web && npm ci)")
        files[key] = path.read_bytes()
    return files


def page_config(issuer, client_id, local=False, end_session_endpoint=""):
    """What the page reads from /config.json: whom to sign in with, and where the API is."""
    config = {
        "issuer": issuer,
        "client_id": client_id,
        # The API is on the page's own origin (CloudFront sends /v1/* to it; locally the dev server).
        "api_base_url": "",
        "scope": "openid email profile",
        "local": local,
    }
    if end_session_endpoint:
        config["end_session_endpoint"] = end_session_endpoint
    return config


def config_from_outputs(outputs):
    """The page's config from the stack's outputs (infra/template.yaml)."""
    return page_config(
        outputs["SignInIssuer"],
        outputs["SignInClientId"],
        end_session_endpoint=outputs.get("SignInEndSessionEndpoint", ""),
    )


def content_type(key):
    return CONTENT_TYPES[pathlib.PurePosixPath(key).suffix]


def publish(s3, bucket, files, cloudfront=None, distribution=None):
    """Uploads what differs, removes what is gone; returns (uploaded, unchanged, removed, invalidation id)."""
    existing = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            existing[item["Key"]] = item["ETag"].strip('"')
    uploaded, unchanged = [], []
    for key, body in files.items():
        kind = content_type(key)
        if existing.get(key) == hashlib.md5(body).hexdigest():
            head = s3.head_object(Bucket=bucket, Key=key)
            if head.get("ContentType") == kind and head.get("CacheControl") == CACHE_CONTROL:
                unchanged.append(key)
                continue
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind, CacheControl=CACHE_CONTROL)
        uploaded.append(key)
    removed = sorted(set(existing) - set(files))
    for key in removed:
        s3.delete_object(Bucket=bucket, Key=key)
    invalidation = None
    if distribution and (uploaded or removed):
        # Every page address is index.html in the cache too; one wildcard path is one path billed.
        answer = cloudfront.create_invalidation(
            DistributionId=distribution,
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": hashlib.md5(
                json.dumps(sorted(uploaded + removed)).encode() + os.urandom(8)).hexdigest()},
        )
        invalidation = answer["Invalidation"]["Id"]
    return uploaded, unchanged, removed, invalidation


def s3_client(region=None):
    # The emulator knows buckets by path, not by host name (S3_FORCE_PATH_STYLE, as the functions).
    style = "path" if os.environ.get("S3_FORCE_PATH_STYLE") == "true" else "auto"
    return boto3.client("s3", region_name=region, config=Config(s3={"addressing_style": style}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack: its WebBucketName, WebDistributionId and sign-in outputs")
    where.add_argument("--resources", help="the local resources (.dev/resources.json): its web_bucket")
    parser.add_argument("--config", help="with --resources: the page's config as JSON ({issuer, client_id, local})")
    parser.add_argument("--region", help="with --stack: the stack's region")
    args = parser.parse_args(argv)

    cloudfront = distribution = None
    if args.stack:
        stack = boto3.client("cloudformation", region_name=args.region).describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        bucket, distribution = outputs["WebBucketName"], outputs["WebDistributionId"]
        config = config_from_outputs(outputs)
        cloudfront = boto3.client("cloudfront", region_name=args.region)
    else:
        bucket = json.loads(pathlib.Path(args.resources).read_text())["web_bucket"]
        given = json.loads(args.config or "{}")
        config = page_config(given["issuer"], given["client_id"], local=given.get("local", False))
    files = page_files()
    files["config.json"] = (json.dumps(config, indent=2) + "\n").encode()
    uploaded, unchanged, removed, invalidation = publish(s3_client(args.region), bucket, files, cloudfront, distribution)
    print(f"  page: {len(uploaded)} uploaded, {len(unchanged)} unchanged, {len(removed)} removed"
          + (f"; cache invalidated ({invalidation})" if invalidation else "") + f" — s3://{bucket}")


if __name__ == "__main__":
    main()
