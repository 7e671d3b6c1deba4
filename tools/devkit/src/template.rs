//! Reads the resources of `infra/template.yaml`, resolving the few intrinsic functions its data
//! resources and policies use (`!Ref`, `!GetAtt …Arn`, `!Sub` of parameters, resources' names and
//! ARNs and the `AWS::` pseudo parameters) against local names, so that the emulator gets exactly
//! what the deployment template declares.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

use crate::DevkitError;

/// The template's path, relative to the workspace root.
pub const TEMPLATE_PATH: &str = "infra/template.yaml";

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: BTreeMap<String, Json>,
    pub resources: BTreeMap<String, Resource>,
    /// `Globals.Function`: what every function has unless it says otherwise.
    pub function_globals: Yaml,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: String,
    pub properties: Yaml,
}

impl Template {
    /// The template of this repository, found from the workspace root.
    pub fn load() -> Result<Self, DevkitError> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text = std::fs::read_to_string(root.join(TEMPLATE_PATH))
            .map_err(|e| DevkitError::Template(format!("cannot read {TEMPLATE_PATH}: {e}")))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, DevkitError> {
        let doc: Yaml = serde_norway::from_str(text).map_err(|e| DevkitError::Template(e.to_string()))?;
        let mut parameters = BTreeMap::new();
        if let Some(Yaml::Mapping(params)) = doc.get("Parameters") {
            for (name, spec) in params {
                let name = name.as_str().unwrap_or_default().to_owned();
                let default = spec.get("Default").map(plain_json).unwrap_or(Json::Null);
                parameters.insert(name, default);
            }
        }
        let mut resources = BTreeMap::new();
        let Some(Yaml::Mapping(declared)) = doc.get("Resources") else {
            return Err(DevkitError::Template("no Resources".into()));
        };
        for (name, spec) in declared {
            let name = name.as_str().unwrap_or_default().to_owned();
            let kind = spec.get("Type").and_then(Yaml::as_str).unwrap_or_default().to_owned();
            let properties = spec.get("Properties").cloned().unwrap_or(Yaml::Null);
            resources.insert(name, Resource { kind, properties });
        }
        let function_globals = doc.get("Globals").and_then(|g| g.get("Function")).cloned().unwrap_or(Yaml::Null);
        Ok(Self { parameters, resources, function_globals })
    }

    /// How long Lambda lets `function` (a logical id) run: its `Timeout`, or the global one.
    pub fn function_timeout(&self, function: &str) -> Result<std::time::Duration, DevkitError> {
        let own = self.resources.get(function).and_then(|r| r.properties.get("Timeout"));
        own.or_else(|| self.function_globals.get("Timeout"))
            .and_then(Yaml::as_u64)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| DevkitError::Template(format!("no Timeout for {function}")))
    }

    /// The logical ids of the resources of one type, in a stable order.
    pub fn of_kind(&self, kind: &str) -> Vec<(&String, &Resource)> {
        self.resources.iter().filter(|(_, r)| r.kind == kind).collect()
    }
}

/// What `!Ref` and `!GetAtt …Arn` of each created resource resolve to, and the pseudo parameters
/// (`AWS::Region`, `AWS::AccountId`, `AWS::Partition`) where they are known.
#[derive(Debug, Default, Clone)]
pub struct Resolved {
    pub parameters: BTreeMap<String, Json>,
    pub refs: BTreeMap<String, String>,
    pub arns: BTreeMap<String, String>,
    pub pseudo: BTreeMap<String, String>,
}

impl Resolved {
    /// Converts properties to JSON, resolving intrinsic functions. An unresolvable reference is an
    /// error: the resource it belongs to was created out of order.
    pub fn resolve(&self, value: &Yaml) -> Result<Json, DevkitError> {
        Ok(match value {
            Yaml::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let arg = tagged.value.as_str().unwrap_or_default();
                match tag.as_str() {
                    "!Ref" => self.reference(arg)?,
                    "!GetAtt" => {
                        let (name, attribute) = arg.split_once('.').unwrap_or((arg, ""));
                        match attribute {
                            "Arn" => Json::String(
                                self.arns
                                    .get(name)
                                    .cloned()
                                    .ok_or_else(|| DevkitError::Template(format!("no ARN for {name} yet")))?,
                            ),
                            other => return Err(DevkitError::Template(format!("unsupported attribute {other}"))),
                        }
                    }
                    "!Sub" => Json::String(self.substitute(arg)?),
                    other => return Err(DevkitError::Template(format!("unsupported intrinsic {other}"))),
                }
            }
            Yaml::Mapping(map) => {
                let mut out = serde_json::Map::new();
                for (key, value) in map {
                    out.insert(key.as_str().unwrap_or_default().to_owned(), self.resolve(value)?);
                }
                Json::Object(out)
            }
            Yaml::Sequence(items) => Json::Array(items.iter().map(|v| self.resolve(v)).collect::<Result<_, _>>()?),
            other => plain_json(other),
        })
    }

    /// `!Sub`'s text with each `${Name}`, `${Name.Arn}` and `${AWS::…}` in it replaced.
    fn substitute(&self, text: &str) -> Result<String, DevkitError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end =
                rest[start..].find('}').ok_or_else(|| DevkitError::Template(format!("an unclosed ${{ in {text}")))?;
            let name = &rest[start + 2..start + end];
            let value = match name.split_once('.') {
                Some((resource, "Arn")) => self
                    .arns
                    .get(resource)
                    .cloned()
                    .ok_or_else(|| DevkitError::Template(format!("no ARN for {resource} yet")))?,
                Some(_) => return Err(DevkitError::Template(format!("unsupported ${{{name}}}"))),
                None if name.starts_with("AWS::") => self
                    .pseudo
                    .get(name)
                    .cloned()
                    .ok_or_else(|| DevkitError::Template(format!("{name} is not known here")))?,
                None => json_text(&self.reference(name)?),
            };
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn reference(&self, name: &str) -> Result<Json, DevkitError> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        self.refs
            .get(name)
            .map(|v| Json::String(v.clone()))
            .ok_or_else(|| DevkitError::Template(format!("nothing named {name} yet")))
    }
}

fn plain_json(value: &Yaml) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

/// A parameter's value as text, the way CloudFormation substitutes it.
pub fn json_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Local name of a resource: the prefix and its logical id in kebab case (`IngestQueue` →
/// `aor-dev-ingest-queue`).
pub fn local_name(prefix: &str, logical_id: &str) -> String {
    let mut name = String::from(prefix);
    for (i, c) in logical_id.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}
