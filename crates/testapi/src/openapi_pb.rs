//! `/openapi/v2` as protobuf: the `openapi.v2.Document` of gnostic
//! (`github.com/google/gnostic-models/openapiv2/OpenAPIv2.proto`), which client-go decodes
//! with `proto.Unmarshal` and kube-openapi turns into models (`pkg/util/proto/document.go`).
//! Only the messages and fields our Swagger 2.0 document uses are declared (tag numbers from
//! the .proto); vendor extensions travel as `Any{yaml}`, which kube-openapi parses as YAML
//! (JSON is valid YAML).

use prost::Message as _;
use serde_json::Value;

#[derive(Clone, PartialEq, prost::Message)]
struct Document {
    #[prost(string, tag = "1")]
    swagger: String,
    #[prost(message, optional, tag = "2")]
    info: Option<Info>,
    #[prost(message, optional, tag = "8")]
    paths: Option<Paths>,
    #[prost(message, optional, tag = "9")]
    definitions: Option<Definitions>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Info {
    #[prost(string, tag = "1")]
    title: String,
    #[prost(string, tag = "2")]
    version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Paths {
    #[prost(message, repeated, tag = "2")]
    path: Vec<NamedPathItem>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedPathItem {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<PathItem>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PathItem {
    #[prost(message, optional, tag = "2")]
    get: Option<Operation>,
    #[prost(message, optional, tag = "3")]
    put: Option<Operation>,
    #[prost(message, optional, tag = "4")]
    post: Option<Operation>,
    #[prost(message, optional, tag = "5")]
    delete: Option<Operation>,
    #[prost(message, optional, tag = "8")]
    patch: Option<Operation>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Operation {
    #[prost(string, tag = "3")]
    description: String,
    #[prost(string, tag = "5")]
    operation_id: String,
    #[prost(string, repeated, tag = "6")]
    produces: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    consumes: Vec<String>,
    #[prost(message, repeated, tag = "8")]
    parameters: Vec<ParametersItem>,
    #[prost(message, optional, tag = "9")]
    responses: Option<Responses>,
    #[prost(string, repeated, tag = "10")]
    schemes: Vec<String>,
    #[prost(message, repeated, tag = "13")]
    vendor_extension: Vec<NamedAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ParametersItem {
    #[prost(message, optional, tag = "1")]
    parameter: Option<Parameter>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Parameter {
    #[prost(message, optional, tag = "1")]
    body_parameter: Option<BodyParameter>,
    #[prost(message, optional, tag = "2")]
    non_body_parameter: Option<NonBodyParameter>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct BodyParameter {
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    r#in: String,
    #[prost(bool, tag = "4")]
    required: bool,
    #[prost(message, optional, tag = "5")]
    schema: Option<Schema>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NonBodyParameter {
    #[prost(message, optional, tag = "3")]
    query_parameter_sub_schema: Option<QueryParameterSubSchema>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct QueryParameterSubSchema {
    #[prost(string, tag = "2")]
    r#in: String,
    #[prost(string, tag = "4")]
    name: String,
    #[prost(string, tag = "6")]
    r#type: String,
    #[prost(bool, tag = "20")]
    unique_items: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Responses {
    #[prost(message, repeated, tag = "1")]
    response_code: Vec<NamedResponseValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedResponseValue {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<ResponseValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResponseValue {
    #[prost(message, optional, tag = "1")]
    response: Option<Response>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Response {
    #[prost(string, tag = "1")]
    description: String,
    #[prost(message, optional, tag = "2")]
    schema: Option<SchemaItem>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SchemaItem {
    #[prost(message, optional, tag = "1")]
    schema: Option<Schema>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Definitions {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedSchema {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Schema>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Schema {
    #[prost(string, tag = "1")]
    r#ref: String,
    #[prost(string, tag = "2")]
    format: String,
    #[prost(string, tag = "4")]
    description: String,
    #[prost(bool, tag = "16")]
    unique_items: bool,
    #[prost(string, repeated, tag = "19")]
    required: Vec<String>,
    #[prost(message, optional, boxed, tag = "21")]
    additional_properties: Option<Box<AdditionalPropertiesItem>>,
    #[prost(message, optional, tag = "22")]
    r#type: Option<TypeItem>,
    #[prost(message, optional, tag = "23")]
    items: Option<ItemsItem>,
    #[prost(message, optional, tag = "25")]
    properties: Option<Properties>,
    #[prost(message, repeated, tag = "31")]
    vendor_extension: Vec<NamedAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AdditionalPropertiesItem {
    #[prost(message, optional, tag = "1")]
    schema: Option<Schema>,
    #[prost(bool, optional, tag = "2")]
    boolean: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TypeItem {
    #[prost(string, repeated, tag = "1")]
    value: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ItemsItem {
    #[prost(message, repeated, tag = "1")]
    schema: Vec<Schema>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Properties {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NamedAny {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "2")]
    yaml: String,
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn strs(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn extensions(v: &Value) -> Vec<NamedAny> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("x-"))
                .map(|(k, x)| NamedAny {
                    name: k.clone(),
                    value: Some(Any {
                        yaml: format!("{x}\n"),
                    }),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn schema(v: &Value) -> Schema {
    Schema {
        r#ref: str_of(v, "$ref"),
        format: str_of(v, "format"),
        description: str_of(v, "description"),
        unique_items: v
            .get("uniqueItems")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        required: strs(v, "required"),
        additional_properties: v.get("additionalProperties").map(|a| {
            Box::new(match a {
                Value::Bool(b) => AdditionalPropertiesItem {
                    schema: None,
                    boolean: Some(*b),
                },
                other => AdditionalPropertiesItem {
                    schema: Some(schema(other)),
                    boolean: None,
                },
            })
        }),
        r#type: v.get("type").and_then(Value::as_str).map(|t| TypeItem {
            value: vec![t.to_string()],
        }),
        items: v.get("items").map(|i| ItemsItem {
            schema: vec![schema(i)],
        }),
        properties: v
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| Properties {
                additional_properties: m
                    .iter()
                    .map(|(k, x)| NamedSchema {
                        name: k.clone(),
                        value: Some(schema(x)),
                    })
                    .collect(),
            }),
        vendor_extension: extensions(v),
    }
}

fn parameter(p: &Value) -> ParametersItem {
    let param = if str_of(p, "in") == "body" {
        Parameter {
            body_parameter: Some(BodyParameter {
                name: str_of(p, "name"),
                r#in: "body".into(),
                required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                schema: p.get("schema").map(schema),
            }),
            non_body_parameter: None,
        }
    } else {
        Parameter {
            body_parameter: None,
            non_body_parameter: Some(NonBodyParameter {
                query_parameter_sub_schema: Some(QueryParameterSubSchema {
                    r#in: str_of(p, "in"),
                    name: str_of(p, "name"),
                    r#type: str_of(p, "type"),
                    unique_items: p
                        .get("uniqueItems")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                }),
            }),
        }
    };
    ParametersItem {
        parameter: Some(param),
    }
}

fn operation(v: &Value) -> Operation {
    Operation {
        description: str_of(v, "description"),
        operation_id: str_of(v, "operationId"),
        produces: strs(v, "produces"),
        consumes: strs(v, "consumes"),
        parameters: v
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(parameter).collect())
            .unwrap_or_default(),
        responses: v
            .get("responses")
            .and_then(Value::as_object)
            .map(|m| Responses {
                response_code: m
                    .iter()
                    .map(|(code, r)| NamedResponseValue {
                        name: code.clone(),
                        value: Some(ResponseValue {
                            response: Some(Response {
                                description: str_of(r, "description"),
                                schema: r.get("schema").map(|s| SchemaItem {
                                    schema: Some(schema(s)),
                                }),
                            }),
                        }),
                    })
                    .collect(),
            }),
        schemes: strs(v, "schemes"),
        vendor_extension: extensions(v),
    }
}

/// Encodes a Swagger 2.0 JSON document (as [`crate::openapi::v2_doc`] builds it).
pub(crate) fn encode(doc: &Value) -> Vec<u8> {
    let op = |p: &Value, m: &str| p.get(m).map(operation);
    let d = Document {
        swagger: str_of(doc, "swagger"),
        info: doc.get("info").map(|i| Info {
            title: str_of(i, "title"),
            version: str_of(i, "version"),
        }),
        paths: doc.get("paths").and_then(Value::as_object).map(|m| Paths {
            path: m
                .iter()
                .map(|(name, p)| NamedPathItem {
                    name: name.clone(),
                    value: Some(PathItem {
                        get: op(p, "get"),
                        put: op(p, "put"),
                        post: op(p, "post"),
                        delete: op(p, "delete"),
                        patch: op(p, "patch"),
                    }),
                })
                .collect(),
        }),
        definitions: doc
            .get("definitions")
            .and_then(Value::as_object)
            .map(|m| Definitions {
                additional_properties: m
                    .iter()
                    .map(|(name, s)| NamedSchema {
                        name: name.clone(),
                        value: Some(schema(s)),
                    })
                    .collect(),
            }),
    };
    d.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_parts_kubectl_reads() {
        let doc = crate::openapi::v2_doc(false);
        let bytes = encode(&doc);
        let back = Document::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.swagger, "2.0");
        let defs = back.definitions.unwrap().additional_properties;
        let csr = defs
            .iter()
            .find(|d| d.name == "io.k8s.api.certificates.v1.CertificateSigningRequest")
            .and_then(|d| d.value.clone())
            .unwrap();
        assert_eq!(csr.r#type.unwrap().value, ["object"]);
        let gvk = csr
            .vendor_extension
            .iter()
            .find(|e| e.name == "x-kubernetes-group-version-kind")
            .unwrap();
        let yaml: Value = serde_json::from_str(&gvk.value.clone().unwrap().yaml).unwrap();
        assert_eq!(
            yaml,
            serde_json::json!([{"group":"certificates.k8s.io","kind":"CertificateSigningRequest","version":"v1"}])
        );
        let meta = csr
            .properties
            .unwrap()
            .additional_properties
            .into_iter()
            .find(|p| p.name == "metadata")
            .and_then(|p| p.value)
            .unwrap();
        assert_eq!(
            meta.r#ref,
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        let patch = back
            .paths
            .unwrap()
            .path
            .into_iter()
            .find(|p| p.name == "/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}")
            .and_then(|p| p.value)
            .and_then(|p| p.patch)
            .unwrap();
        assert!(
            patch
                .consumes
                .iter()
                .any(|c| c == "application/strategic-merge-patch+json")
        );
    }
}
