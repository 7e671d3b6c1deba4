"""tools/publish_web.py against S3 and CloudFront as moto emulates them: what a deploy uploads, with
which types, and that a second run changes nothing."""

import json
import pathlib
import tempfile
import unittest

import boto3
from moto import mock_aws

import publish_web


def distribution(cloudfront):
    config = {
        "CallerReference": "test",
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "page", "DomainName": "page.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "page", "ViewerProtocolPolicy": "redirect-to-https",
                                 "MinTTL": 0, "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
    }
    return cloudfront.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


@mock_aws
class PublishTest(unittest.TestCase):
    def setUp(self):
        self.s3 = boto3.client("s3", region_name="us-east-1")
        self.s3.create_bucket(Bucket="page")
        self.cloudfront = boto3.client("cloudfront", region_name="us-east-1")
        self.distribution = distribution(self.cloudfront)
        self.web = pathlib.Path(tempfile.mkdtemp())
        (self.web / "index.html").write_text("<!doctype html>")
        (self.web / "app.js").write_text("start();")
        (self.web / "style.css").write_text("body{}")
        (self.web / "package.json").write_text("{}")
        (self.web / "tests").mkdir()
        (self.web / "tests" / "browser.test.mjs").write_text("test")
        vendor = self.web / publish_web.VENDORED["vendor/oidc-client-ts.min.js"]
        vendor.parent.mkdir(parents=True)
        vendor.write_text("var oidc={};")

    def files(self, config):
        files = publish_web.page_files(self.web)
        files["config.json"] = json.dumps(config).encode()
        return files

    def publish(self, files):
        return publish_web.publish(self.s3, "page", files, self.cloudfront, self.distribution)

    def test_the_page_its_library_and_its_config_go_up_with_their_types_and_nothing_else(self):
        config = publish_web.page_config("https://issuer.example.com/pool", "client-1")
        uploaded, unchanged, removed, invalidation = self.publish(self.files(config))
        self.assertEqual(sorted(uploaded), ["app.js", "config.json", "index.html", "style.css", "vendor/oidc-client-ts.min.js"])
        self.assertEqual((unchanged, removed), ([], []))
        self.assertIsNotNone(invalidation)
        types = {key: self.s3.head_object(Bucket="page", Key=key)["ContentType"] for key in uploaded}
        self.assertEqual(types["app.js"], "text/javascript; charset=utf-8")
        self.assertEqual(types["vendor/oidc-client-ts.min.js"], "text/javascript; charset=utf-8")
        self.assertEqual(types["index.html"], "text/html; charset=utf-8")
        self.assertEqual(types["config.json"], "application/json")
        served = json.loads(self.s3.get_object(Bucket="page", Key="config.json")["Body"].read())
        self.assertEqual(served, {"issuer": "https://issuer.example.com/pool", "client_id": "client-1",
                                  "api_base_url": "", "scope": "openid email profile", "local": False})

    def test_a_second_run_changes_nothing_and_a_change_goes_up_alone(self):
        config = publish_web.page_config("https://issuer.example.com/pool", "client-1")
        self.publish(self.files(config))
        uploaded, unchanged, removed, invalidation = self.publish(self.files(config))
        self.assertEqual((uploaded, removed, invalidation), ([], [], None))
        self.assertEqual(len(unchanged), 5)
        invalidations = self.cloudfront.list_invalidations(DistributionId=self.distribution)["InvalidationList"]
        self.assertEqual(invalidations["Quantity"], 1, "only the first run invalidated the cache")

        (self.web / "app.js").write_text("start(); // changed")
        (self.web / "style.css").unlink()
        uploaded, unchanged, removed, invalidation = self.publish(self.files(config))
        self.assertEqual((uploaded, removed), (["app.js"], ["style.css"]))
        self.assertIsNotNone(invalidation)

    def test_the_config_comes_from_the_stack_s_outputs(self):
        cognito = publish_web.config_from_outputs({
            "SignInIssuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
            "SignInClientId": "client-1",
            "SignInEndSessionEndpoint": "https://aor-1.auth.us-east-1.amazoncognito.com/logout?client_id=client-1&logout_uri=https://d1.cloudfront.net/",
        })
        self.assertEqual(cognito["end_session_endpoint"].split("?")[0], "https://aor-1.auth.us-east-1.amazoncognito.com/logout")
        self.assertFalse(cognito["local"])
        other = publish_web.config_from_outputs({"SignInIssuer": "https://org.okta.com", "SignInClientId": "c", "SignInEndSessionEndpoint": ""})
        self.assertNotIn("end_session_endpoint", other, "the issuer's discovery document says where")


if __name__ == "__main__":
    unittest.main()
