//! Malformed or invalid requests get the real server's status codes and reasons.

mod common;

use common::Cluster;

const CM_PATH: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn malformed_json_body_is_400_bad_request() {
    let c = Cluster::start().await;
    let (code, body) = c
        .raw(
            "POST",
            CM_PATH,
            "application/json",
            b"{\"apiVersion\": \"v1\", ",
        )
        .await;
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));
    assert_eq!(body["kind"], "Status");
}

#[tokio::test]
async fn malformed_yaml_body_is_400_bad_request() {
    let c = Cluster::start().await;
    let (code, body) = c
        .raw(
            "POST",
            CM_PATH,
            "application/yaml",
            b"kind: [unclosed\n  - : :",
        )
        .await;
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));
}

#[tokio::test]
async fn yaml_body_is_accepted() {
    let c = Cluster::start().await;
    let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n";
    let (code, body) = c.raw("POST", CM_PATH, "application/yaml", yaml).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["metadata"]["namespace"], "default");
}

#[tokio::test]
async fn unknown_resource_is_404_not_found() {
    let c = Cluster::start().await;
    let (code, body) = c
        .raw(
            "GET",
            "/apis/example.com/v1/gizmos",
            "application/json",
            b"",
        )
        .await;
    assert_eq!((code, body["reason"].as_str()), (404, Some("NotFound")));
    let (code, _) = c
        .raw(
            "GET",
            "/api/v1/namespaces/default/gizmos",
            "application/json",
            b"",
        )
        .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn wrong_api_version_or_kind_in_body_is_400() {
    let c = Cluster::start().await;
    let body = br#"{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}"#;
    let (code, status) = c.raw("POST", CM_PATH, "application/json", body).await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    let body = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#;
    let (code, _) = c.raw("POST", CM_PATH, "application/json", body).await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn invalid_dns_name_is_422_invalid_with_field_cause() {
    let c = Cluster::start().await;
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}"#;
    let (code, status) = c.raw("POST", CM_PATH, "application/json", body).await;
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    let ns = br#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a.b"}}"#;
    let (code, _) = c
        .raw("POST", "/api/v1/namespaces", "application/json", ns)
        .await;
    assert_eq!(code, 422, "namespaces must be DNS labels");
}

#[tokio::test]
async fn body_namespace_differing_from_url_is_400() {
    let c = Cluster::start().await;
    let body =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"other"}}"#;
    let (code, status) = c.raw("POST", CM_PATH, "application/json", body).await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("does not match the namespace")
    );
}

#[tokio::test]
async fn missing_namespace_is_404() {
    let c = Cluster::start().await;
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#;
    let (code, status) = c
        .raw(
            "POST",
            "/api/v1/namespaces/nope/configmaps",
            "application/json",
            body,
        )
        .await;
    assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(status["message"], "namespaces \"nope\" not found");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let c = Cluster::start().await;
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"x":"{}"}}}}"#,
        "a".repeat(4 * 1024 * 1024)
    );
    let (code, status) = c
        .raw("POST", CM_PATH, "application/json", big.as_bytes())
        .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );
}

#[tokio::test]
async fn unsupported_patch_type_is_415_and_apply_without_manager_is_400() {
    let c = Cluster::start().await;
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p"}}"#;
    assert_eq!(
        c.raw("POST", CM_PATH, "application/json", body).await.0,
        201
    );
    let (code, status) = c
        .raw("PATCH", &format!("{CM_PATH}/p"), "text/plain", b"{}")
        .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (code, _) = c
        .raw(
            "PATCH",
            &format!("{CM_PATH}/p"),
            "application/apply-patch+yaml",
            body,
        )
        .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn post_to_named_resource_is_405_method_not_allowed() {
    let c = Cluster::start().await;
    let (code, status) = c
        .raw("POST", &format!("{CM_PATH}/x"), "application/json", b"{}")
        .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
}

#[tokio::test]
async fn bad_selectors_and_continue_tokens_are_400() {
    let c = Cluster::start().await;
    let (code, _) = c
        .raw(
            "GET",
            &format!("{CM_PATH}?labelSelector=a%20in%20b"),
            "application/json",
            b"",
        )
        .await;
    assert_eq!(code, 400);
    let (code, _) = c
        .raw(
            "GET",
            &format!("{CM_PATH}?continue=%%%"),
            "application/json",
            b"",
        )
        .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn unknown_fields_of_builtin_kinds_are_dropped_with_warn_and_rejected_with_strict() {
    let c = Cluster::start().await;
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"u"},"data":{"a":"b"},"dta":{"x":"y"}}"#;
    let (code, obj) = c.raw("POST", CM_PATH, "application/json", body).await;
    assert_eq!(code, 201);
    assert!(obj.get("dta").is_none(), "unknown field dropped: {obj}");
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s"},"dta":{"x":"y"}}"#;
    let (code, status) = c
        .raw(
            "POST",
            &format!("{CM_PATH}?fieldValidation=Strict"),
            "application/json",
            body,
        )
        .await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("unknown field \"dta\""),
        "{status}"
    );
}
