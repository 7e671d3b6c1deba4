//! The page and its sign-in as `infra/template.yaml` deploys them: one HTTPS origin (a private
//! bucket for the page, `/v1/*` to the API, nothing of the API cached), the page's addresses
//! answered with `index.html` by the same rule the local system applies, the security headers, and
//! a user pool made only when no issuer is given — with the API trusting whichever applies.

use serde_norway::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn props<'a>(template: &'a Value, id: &str) -> &'a Value {
    &template["Resources"][id]["Properties"]
}

/// A tagged value (`!If [...]`) as its tag and argument.
fn tagged(value: &Value) -> (String, &Value) {
    match value {
        Value::Tagged(tagged) => (tagged.tag.to_string(), &tagged.value),
        other => panic!("not an intrinsic function: {other:?}"),
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not text: {value:?}"))
}

/// `!If [condition, then, else]`.
fn if_branches(value: &Value) -> (&str, &Value, &Value) {
    let (tag, arguments) = tagged(value);
    assert_eq!(tag, "!If", "{value:?}");
    (text(&arguments[0]), &arguments[1], &arguments[2])
}

fn reference(value: &Value) -> &str {
    let (tag, argument) = tagged(value);
    assert_eq!(tag, "!Ref", "{value:?}");
    text(argument)
}

const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

#[test]
fn the_page_comes_from_a_private_bucket_and_v1_goes_to_the_api_uncached_on_one_origin() {
    let template = template();
    let block = &props(&template, "WebBucket")["PublicAccessBlockConfiguration"];
    for flag in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[flag], Value::Bool(true), "{flag}");
    }
    // Only the distribution may read it: every Allow is for CloudFront, on this distribution.
    let statements = props(&template, "WebBucketPolicy")["PolicyDocument"]["Statement"].as_sequence().unwrap();
    for allow in statements.iter().filter(|s| s["Effect"] == "Allow") {
        assert_eq!(allow["Principal"]["Service"], "cloudfront.amazonaws.com");
        let (_, arn) = tagged(&allow["Condition"]["StringEquals"]["AWS:SourceArn"]);
        assert!(text(arn).ends_with(":distribution/${WebDistribution}"), "{arn:?}");
    }

    let config = &props(&template, "WebDistribution")["DistributionConfig"];
    let origins = config["Origins"].as_sequence().unwrap();
    let origin = |id: &str| origins.iter().find(|o| o["Id"] == id).unwrap_or_else(|| panic!("no origin {id}"));
    let (_, access_control) = tagged(&origin("page")["OriginAccessControlId"]);
    assert_eq!(text(access_control), "WebOriginAccessControl.Id", "origin access control on the page's bucket");
    let (_, api_domain) = tagged(&origin("api")["DomainName"]);
    assert!(text(api_domain).starts_with("${Api}.execute-api."), "{api_domain:?}");
    assert_eq!(origin("api")["CustomOriginConfig"]["OriginProtocolPolicy"], "https-only");

    let page = &config["DefaultCacheBehavior"];
    assert_eq!(page["TargetOriginId"], "page");
    assert_eq!(page["ViewerProtocolPolicy"], "redirect-to-https");
    let behaviours = config["CacheBehaviors"].as_sequence().unwrap();
    let api = behaviours.iter().find(|b| b["PathPattern"] == "/v1/*").expect("a behaviour for /v1/*");
    assert_eq!(api["TargetOriginId"], "api");
    assert_eq!(api["CachePolicyId"], CACHING_DISABLED, "no API answer is cached");
    assert_eq!(api["OriginRequestPolicyId"], ALL_VIEWER_EXCEPT_HOST, "the bearer token reaches API Gateway");
    let methods: Vec<&str> = api["AllowedMethods"].as_sequence().unwrap().iter().map(text).collect();
    for method in ["GET", "POST", "PATCH"] {
        assert!(methods.contains(&method), "{method} reaches the API");
    }
    for behaviour in [page, api] {
        assert_eq!(reference(&behaviour["ResponseHeadersPolicyId"]), "PageHeadersPolicy");
    }
}

/// The page's addresses are `index.html` in AWS (the viewer-request function, run here by Node)
/// exactly where they are locally (`devkit::web::is_page_address`); everything else is a file,
/// and a missing one stays a 404 (S3 may list the bucket for the distribution, and no error
/// response turns a 404 into the page).
#[test]
fn page_addresses_are_the_page_and_a_missing_file_stays_a_404_in_aws_as_locally() {
    let template = template();
    let config = &props(&template, "WebDistribution")["DistributionConfig"];
    let association = &config["DefaultCacheBehavior"]["FunctionAssociations"][0];
    assert_eq!(association["EventType"], "viewer-request");
    let (_, function) = tagged(&association["FunctionARN"]);
    assert_eq!(text(function), "PageAddressesFunction.FunctionMetadata.FunctionARN");
    assert!(config.get("CustomErrorResponses").is_none(), "a missing file must not become the page");
    let statements = props(&template, "WebBucketPolicy")["PolicyDocument"]["Statement"].as_sequence().unwrap();
    assert!(statements.iter().any(|s| s["Effect"] == "Allow" && s["Action"] == "s3:ListBucket"), "404, not 403");

    let code = text(&props(&template, "PageAddressesFunction")["FunctionCode"]);
    let paths = [
        "/",
        "/callback",
        "/clients/0042847442",
        "/clients/0042847442/evidence",
        "/exports/9b2f-41c_a",
        "/index.html",
        "/app.js",
        "/config.json",
        "/vendor/oidc-client-ts.min.js",
        "/clients/abc",
        "/clients/",
        "/clients/1/2",
        "/exports/a/b",
        "/exports/",
        "/missing.css",
        "/callback/x",
        "/v1/at-risk",
    ];
    let script = format!(
        "{code}\nconst paths = {};\nconsole.log(JSON.stringify(paths.map((uri) => handler({{ request: {{ uri }} }}).uri)));",
        serde_json::to_string(&paths).unwrap()
    );
    let output = std::process::Command::new("node").arg("-e").arg(script).output().expect("node runs the function");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rewritten: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    for (path, uri) in paths.iter().zip(&rewritten) {
        let page = devkit::web::is_page_address(path);
        assert_eq!(
            uri == "/index.html" && *path != "/index.html",
            page,
            "{path} → {uri} in AWS; locally a page: {page}"
        );
        if !page {
            assert_eq!(uri, path, "{path} is asked of the bucket as it is");
        }
    }
}

#[test]
fn every_answer_carries_the_security_headers_and_the_page_runs_no_inline_script() {
    let template = template();
    let security = &props(&template, "PageHeadersPolicy")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
    let (tag, csp) = tagged(&security["ContentSecurityPolicy"]["ContentSecurityPolicy"]);
    assert_eq!(tag, "!Sub");
    let csp = text(&csp[0]);
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    for wanted in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"] {
        assert!(directives.contains(&wanted), "{wanted} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert!(security["StrictTransportSecurity"]["AccessControlMaxAgeSec"].as_u64().unwrap() >= 31_536_000);
    assert_eq!(security["ContentTypeOptions"]["Override"], Value::Bool(true));
    assert!(security["ReferrerPolicy"]["ReferrerPolicy"].is_string());
    assert_eq!(security["FrameOptions"]["FrameOption"], "DENY");
}

#[test]
fn a_user_pool_is_made_only_without_an_issuer_and_the_api_trusts_whichever_applies() {
    let template = template();
    let (tag, condition) = tagged(&template["Conditions"]["CreateUserPool"]);
    assert_eq!(tag, "!Equals");
    assert_eq!(reference(&condition[0]), "JwtIssuer");
    assert_eq!(condition[1], "");
    for id in ["UserPool", "UserPoolDomain", "UserPoolClient"] {
        assert_eq!(template["Resources"][id]["Condition"], "CreateUserPool", "{id}");
    }
    assert_eq!(props(&template, "UserPool")["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], Value::Bool(true));

    // The page's client: public, code flow (PKCE is the page's), back to /callback; it reads the
    // three attributes and may write none of them.
    let client = props(&template, "UserPoolClient");
    assert_eq!(client["GenerateSecret"], Value::Bool(false));
    assert_eq!(client["AllowedOAuthFlows"], serde_norway::from_str::<Value>("[code]").unwrap());
    let (_, with_domain, without) = if_branches(&client["CallbackURLs"]);
    for callback in with_domain.as_sequence().unwrap().iter().chain(without.as_sequence().unwrap()) {
        assert!(text(tagged(callback).1).ends_with("/callback"), "{callback:?}");
    }
    let attributes =
        |key: &str| -> Vec<String> { client[key].as_sequence().unwrap().iter().map(|v| text(v).to_owned()).collect() };
    for claim in ["custom:agent_id", "custom:agency_id", "custom:role"] {
        assert!(attributes("ReadAttributes").iter().any(|a| a == claim), "{claim} is in the tokens");
        assert!(!attributes("WriteAttributes").iter().any(|a| a == claim), "no one may change their own {claim}");
    }

    // The authorizer: the pool's issuer and client, or the given issuer and audience.
    let jwt = &props(&template, "JwtAuthorizer")["JwtConfiguration"];
    let (condition, pool_issuer, given_issuer) = if_branches(&jwt["Issuer"]);
    // An issuer comes with its audience (the page's client id there).
    let rule = &template["Rules"]["AnIssuerHasItsAudience"];
    let (_, when) = tagged(&rule["RuleCondition"]);
    assert_eq!(reference(&tagged(&when[0]).1[0]), "JwtIssuer");
    assert!(format!("{:?}", rule["Assertions"][0]["Assert"]).contains("JwtAudience"), "{rule:?}");
    assert_eq!(condition, "CreateUserPool");
    assert!(text(tagged(pool_issuer).1).ends_with(".amazonaws.com/${UserPool}"));
    assert_eq!(reference(given_issuer), "JwtIssuer");
    let (condition, pool_audience, given_audience) = if_branches(&jwt["Audience"]);
    assert_eq!(condition, "CreateUserPool");
    assert_eq!(reference(&pool_audience[0]), "UserPoolClient");
    assert_eq!(reference(given_audience), "JwtAudience");
    let routes: Vec<&Value> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
        .collect();
    assert!(routes.len() >= 19);
    for route in routes {
        assert_eq!(route["Properties"]["AuthorizationType"], "JWT", "{route:?}");
        assert_eq!(reference(&route["Properties"]["AuthorizerId"]), "JwtAuthorizer");
    }

    // The functions read the person's agent id by the name the issuer gives it: the pool's custom
    // attribute, the plain name for another issuer, or the parameter's.
    let (_, given, otherwise) =
        if_branches(&template["Globals"]["Function"]["Environment"]["Variables"]["JWT_AGENT_ID_CLAIM"]);
    assert_eq!(reference(given), "AgentIdClaim");
    let (condition, pool, other) = if_branches(otherwise);
    assert_eq!(
        (condition, text(pool), text(other)),
        (
            "CreateUserPool",
            http_edge::caller::AgentIdClaim::cognito().0.as_str(),
            http_edge::caller::AgentIdClaim::default().0.as_str()
        )
    );
}

/// Emailed links and every CSV row's link open the page this stack serves, unless a parameter
/// points elsewhere.
#[test]
fn links_in_emails_and_exports_open_the_page_the_stack_serves_by_default() {
    let template = template();
    let page_url = &template["Outputs"]["PageUrl"]["Value"];
    let (condition, custom, own) = if_branches(page_url);
    assert_eq!(condition, "HasCustomDomain");
    assert_eq!(text(tagged(custom).1), "https://${DomainName}");
    assert_eq!(text(tagged(own).1), "https://${WebDistribution.DomainName}");
    let mut checked = 0;
    for function in ["AtRiskQueryFunction", "ExportBuilderFunction", "DailyDigestFunction"] {
        let variables = &props(&template, function)["Environment"]["Variables"];
        for (variable, parameter) in
            [("CLIENT_DETAILS_BASE_URL", "ClientDetailsBaseUrl"), ("WEB_BASE_URL", "WebBaseUrl")]
        {
            let Some(value) = variables.get(variable) else { continue };
            let (_, given, otherwise) = if_branches(value);
            assert_eq!(reference(given), parameter, "{function} {variable}");
            assert_eq!(otherwise, page_url, "{function} {variable} defaults to the page");
            checked += 1;
        }
    }
    assert_eq!(checked, 5, "every link-making function's two base URLs");
}
