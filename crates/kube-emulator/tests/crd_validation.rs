//! Value validation of custom resources against CRD schemas (types, enums, bounds, formats,
//! required fields, CEL rules with `oldSelf`), through kube-rs, raw HTTP and kubectl, with the
//! real server's 422 messages and `details.causes`.

mod common;

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use common::{Cluster, assert_ok};

const GADGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.ferry.dev}
spec:
  group: example.ferry.dev
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [mode]
            x-kubernetes-validations:
            - rule: "self.minReplicas <= self.maxReplicas"
              message: minReplicas must not exceed maxReplicas
            - rule: "!has(self.name) || self.name != 'admin'"
              messageExpression: "'name ' + self.name + ' is reserved'"
              reason: FieldValueForbidden
              fieldPath: .name
            properties:
              mode: {type: string, enum: [fast, slow]}
              name: {type: string, minLength: 2, maxLength: 5}
              minReplicas: {type: integer, minimum: 0, default: 0}
              maxReplicas: {type: integer, maximum: 10, default: 1}
              ports: {type: array, minItems: 1, maxItems: 2, items: {type: integer}}
              since: {type: string, format: date-time}
              port:
                x-kubernetes-int-or-string: true
                anyOf: [{type: integer}, {type: string}]
              note: {type: string, nullable: true}
              labels: {type: object, maxProperties: 1, additionalProperties: {type: string}}
              region:
                type: string
                x-kubernetes-validations:
                - rule: "self == oldSelf"
                  message: region is immutable
"#;

const GADGETS: &str = "/apis/example.ferry.dev/v1/namespaces/default/gadgets";

async fn gadgets(c: &Cluster) -> Api<DynamicObject> {
    assert_ok(&c.apply(GADGET_CRD, &[]).await, &["apply gadget crd"]);
    let gvk = GroupVersionKind::gvk("example.ferry.dev", "v1", "Gadget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "gadgets");
    Api::namespaced_with(c.client().await, "default", &ar)
}

fn gadget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.ferry.dev/v1",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("gadget")
}

fn api_status(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn causes(body: &Value) -> Vec<(String, String, String)> {
    body["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
            (s("field"), s("reason"), s("message"))
        })
        .collect()
}

fn cause(field: &str, reason: &str, message: &str) -> (String, String, String) {
    (field.into(), reason.into(), message.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_violations_are_422_with_one_cause_per_field() {
    let c = Cluster::start().await;
    gadgets(&c).await;
    let body = json!({
        "apiVersion": "example.ferry.dev/v1", "kind": "Gadget", "metadata": {"name": "bad"},
        "spec": {
            "mode": "medium", "name": "abcdefg", "minReplicas": -1, "maxReplicas": 11,
            "ports": [1, 2, 3], "since": "yesterday", "port": true,
            "labels": {"a": "1", "b": "2"},
        },
    });
    let (code, status) = c
        .raw(
            "POST",
            GADGETS,
            "application/json",
            body.to_string().as_bytes(),
        )
        .await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "Gadget");
    assert_eq!(status["details"]["group"], "example.ferry.dev");
    let got = causes(&status);
    let want = [
        cause(
            "spec.mode",
            "FieldValueNotSupported",
            "Unsupported value: \"medium\": supported values: \"fast\", \"slow\"",
        ),
        cause(
            "spec.name",
            "FieldValueTooLong",
            "Too long: may not be more than 5 bytes",
        ),
        cause(
            "spec.minReplicas",
            "FieldValueInvalid",
            "Invalid value: -1: spec.minReplicas in body should be greater than or equal to 0",
        ),
        cause(
            "spec.maxReplicas",
            "FieldValueInvalid",
            "Invalid value: 11: spec.maxReplicas in body should be less than or equal to 10",
        ),
        cause(
            "spec.labels",
            "FieldValueTooMany",
            "Too many: 2: must have at most 1 items",
        ),
        cause(
            "spec.ports",
            "FieldValueTooMany",
            "Too many: 3: must have at most 2 items",
        ),
        cause(
            "spec.since",
            "FieldValueTypeInvalid",
            "Invalid value: \"yesterday\": spec.since in body must be of type date-time: \"yesterday\"",
        ),
        cause(
            "spec.port",
            "FieldValueTypeInvalid",
            "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
        ),
        // The CEL rule on spec is skipped after type and enum errors, as on the real server.
        cause(
            "<nil>",
            "FieldValueInvalid",
            "Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ),
    ];
    for w in &want {
        assert!(got.contains(w), "missing {w:?} in {got:?}");
    }
    assert_eq!(got.len(), want.len(), "{got:?}");
    let message = status["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("Gadget.example.ferry.dev \"bad\" is invalid: ["),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_bounds_type_mismatch_and_required_fields_are_reported() {
    let c = Cluster::start().await;
    let api = gadgets(&c).await;
    let e = api
        .create(
            &PostParams::default(),
            &gadget("short", json!({"mode": "fast", "name": "a", "ports": []})),
        )
        .await
        .expect_err("too short");
    let (code, reason, message) = api_status(e);
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        message.contains(
            "spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "spec.ports: Invalid value: 0: spec.ports in body should have at least 1 items"
        ),
        "{message}"
    );
    let e = api
        .create(
            &PostParams::default(),
            &gadget("typed", json!({"mode": "fast", "minReplicas": "two"})),
        )
        .await
        .expect_err("wrong type");
    let (_, _, message) = api_status(e);
    // The CEL rule on spec would fail on the string; like the real server it is not
    // evaluated once a type error was found, and a note says so.
    assert_eq!(
        message,
        "Gadget.example.ferry.dev \"typed\" is invalid: [spec.minReplicas: Invalid value: \"string\": spec.minReplicas in body must be of type integer: \"string\", <nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"
    );
    let e = api
        .create(&PostParams::default(), &gadget("nomode", json!({})))
        .await
        .expect_err("required");
    let (_, _, message) = api_status(e);
    assert_eq!(
        message,
        "Gadget.example.ferry.dev \"nomode\" is invalid: [spec.mode: Required value, <nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"
    );
    // Valid values, an RFC 3339 time, a string int-or-string and an explicit null on a
    // nullable field are accepted.
    api.create(
        &PostParams::default(),
        &gadget(
            "good",
            json!({"mode": "slow", "since": "2024-01-02T03:04:05Z", "port": "http", "note": null}),
        ),
    )
    .await
    .expect("valid gadget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cel_rules_see_self_and_transition_rules_see_old_self() {
    let c = Cluster::start().await;
    let api = gadgets(&c).await;
    let e = api
        .create(
            &PostParams::default(),
            &gadget(
                "inverted",
                json!({"mode": "fast", "minReplicas": 5, "maxReplicas": 2}),
            ),
        )
        .await
        .expect_err("cel rule");
    let (code, _, message) = api_status(e);
    assert_eq!(code, 422);
    assert_eq!(
        message,
        "Gadget.example.ferry.dev \"inverted\" is invalid: spec: Invalid value: \"object\": minReplicas must not exceed maxReplicas"
    );
    // messageExpression, reason and fieldPath shape the cause.
    let body = json!({"apiVersion": "example.ferry.dev/v1", "kind": "Gadget",
        "metadata": {"name": "admin"}, "spec": {"mode": "fast", "name": "admin"}});
    let (code, status) = c
        .raw(
            "POST",
            GADGETS,
            "application/json",
            body.to_string().as_bytes(),
        )
        .await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        causes(&status),
        [cause(
            "spec.name",
            "FieldValueForbidden",
            "Forbidden: name admin is reserved"
        )]
    );
    // Transition rules are not evaluated on create...
    api.create(
        &PostParams::default(),
        &gadget("g", json!({"mode": "fast", "region": "eu"})),
    )
    .await
    .expect("create with region");
    // ...but on every kind of update.
    let pp = PatchParams::default();
    let e = api
        .patch("g", &pp, &Patch::Merge(json!({"spec": {"region": "us"}})))
        .await
        .expect_err("region is immutable");
    let (_, _, message) = api_status(e);
    assert_eq!(
        message,
        "Gadget.example.ferry.dev \"g\" is invalid: spec.region: Invalid value: \"string\": region is immutable"
    );
    let apply = json!({"apiVersion": "example.ferry.dev/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"mode": "fast", "region": "ap"}});
    let e = api
        .patch(
            "g",
            &PatchParams::apply("other").force(),
            &Patch::Apply(&apply),
        )
        .await
        .expect_err("apply too");
    assert!(api_status(e).2.contains("region is immutable"));
    // Other fields still change; the unchanged region passes its rule.
    let ok = api
        .patch("g", &pp, &Patch::Merge(json!({"spec": {"mode": "slow"}})))
        .await
        .expect("mode changes");
    assert_eq!(ok.data["spec"]["mode"], "slow");
    assert_eq!(ok.data["spec"]["region"], "eu");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_kustomization_gets_the_real_servers_messages_via_kubectl_and_kube_rs() {
    let c = Cluster::start().await;
    let crd = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml"
    ))
    .expect("flux crd");
    assert_ok(&c.apply(&crd, &[]).await, &["apply flux crd"]);
    let bad_interval = "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: x, namespace: default}
spec:
  interval: abc
  prune: true
  sourceRef: {kind: GitRepository, name: repo}
";
    let out = c.apply(bad_interval, &[]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"spec.interval: Invalid value: "abc": spec.interval in body should match '^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$'"#),
        "{err}"
    );
    let gvk = GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
    let api: Api<DynamicObject> = Api::namespaced_with(
        c.client().await,
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "kustomizations"),
    );
    let ks = |spec: Value| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "x"}, "spec": spec,
        }))
        .expect("kustomization")
    };
    let e = api
        .create(&PostParams::default(), &ks(json!({"interval": "abc", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "repo"}})))
        .await
        .expect_err("bad interval");
    assert_eq!(
        api_status(e).2,
        r#"Kustomization.kustomize.toolkit.fluxcd.io "x" is invalid: spec.interval: Invalid value: "abc": spec.interval in body should match '^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$'"#
    );
    let e = api
        .create(
            &PostParams::default(),
            &ks(json!({"interval": "5m", "prune": true})),
        )
        .await
        .expect_err("missing sourceRef");
    assert_eq!(
        api_status(e).2,
        r#"Kustomization.kustomize.toolkit.fluxcd.io "x" is invalid: [spec.sourceRef: Required value, <nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"#
    );
    let e = api
        .create(&PostParams::default(), &ks(json!({"interval": "5m", "prune": true, "sourceRef": {"kind": "Git", "name": "repo"}})))
        .await
        .expect_err("enum");
    assert_eq!(
        api_status(e).2,
        r#"Kustomization.kustomize.toolkit.fluxcd.io "x" is invalid: [spec.sourceRef.kind: Unsupported value: "Git": supported values: "OCIRepository", "GitRepository", "Bucket", "ExternalArtifact", <nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"#
    );
    // Flux's own CEL rule on spec.kubeConfig (one of configMapRef or secretRef).
    let e = api
        .create(
            &PostParams::default(),
            &ks(json!({"interval": "5m", "prune": true, "kubeConfig": {},
                "sourceRef": {"kind": "GitRepository", "name": "repo"}})),
        )
        .await
        .expect_err("cel rule");
    assert_eq!(
        api_status(e).2,
        r#"Kustomization.kustomize.toolkit.fluxcd.io "x" is invalid: spec.kubeConfig: Invalid value: "object": exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified"#
    );
    let good = api
        .create(&PostParams::default(), &ks(json!({"interval": "5m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "repo"}})))
        .await
        .expect("valid kustomization");
    assert_eq!(good.data["spec"]["interval"], "5m");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_refuses_a_body_carrying_managed_fields() {
    let c = Cluster::start().await;
    let path = "/api/v1/namespaces/default/configmaps/carrier?fieldManager=test";
    for mf in [
        json!([]),
        json!([{"manager": "x", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {}}]),
    ] {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "carrier", "managedFields": mf}});
        let (code, status) = c
            .raw(
                "PATCH",
                path,
                "application/apply-patch+yaml",
                body.to_string().as_bytes(),
            )
            .await;
        assert_eq!(code, 400, "{status}");
        assert_eq!(status["reason"], "BadRequest");
        assert_eq!(status["message"], "metadata.managedFields must be nil");
    }
    // null is the same as absent.
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "carrier", "managedFields": null}, "data": {"k": "v"}});
    let (code, status) = c
        .raw(
            "PATCH",
            path,
            "application/apply-patch+yaml",
            body.to_string().as_bytes(),
        )
        .await;
    assert_eq!(code, 201, "{status}");
}
