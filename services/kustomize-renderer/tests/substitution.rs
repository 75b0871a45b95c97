//! Post-build substitution as Flux runs it: the envsubst expression table (Flux's own cases),
//! strict mode, escapes, the opt-out annotation, variable sources and YAML typing.

use std::collections::BTreeMap;

use kustomize_renderer::flux::envsubst::{self, EnvsubstError};
use kustomize_renderer::flux::substitute::{
    QuotedStrings, SourceStyles, SubstituteError, SubstituteOptions, VarSource, VarSourceKind,
    load_variables, substitute_object, validate_names,
};
use serde_json::{Value, json};

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn lenient(input: &str, params: &[(&str, &str)]) -> Result<String, EnvsubstError> {
    let v = vars(params);
    envsubst::eval(input, &|name| {
        (v.get(name).cloned().unwrap_or_default(), true)
    })
}

fn strict(input: &str, params: &[(&str, &str)]) -> Result<String, EnvsubstError> {
    let v = vars(params);
    envsubst::eval(input, &|name| match v.get(name) {
        Some(value) => (value.clone(), true),
        None => (String::new(), false),
    })
}

/// (variables, input, expected output).
type Case = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

#[test]
fn envsubst_expands_every_expression_like_flux() {
    // (params, input, output): fluxcd/pkg/envsubst's TestExpand table plus Flux docs cases.
    let table: &[Case] = &[
        (&[], "abcdEFGH28ij", "abcdEFGH28ij"),
        (&[("var01", "abcdEFGH28ij")], "${#var01}", "12"),
        (&[("var01", "abcdEFGH28ij")], "${var01^}", "AbcdEFGH28ij"),
        (&[("var01", "abcdEFGH28ij")], "${var01^^}", "ABCDEFGH28IJ"),
        (&[("var01", "ABCDEFGH28IJ")], "${var01,}", "aBCDEFGH28IJ"),
        (&[("var01", "ABCDEFGH28IJ")], "${var01,,}", "abcdefgh28ij"),
        (
            &[("path_name", "/home/bozo/ideas/thoughts.for.today")],
            "${path_name:11}",
            "ideas/thoughts.for.today",
        ),
        (
            &[("path_name", "/home/bozo/ideas/thoughts.for.today")],
            "${path_name:11:5}",
            "ideas",
        ),
        (&[("var", "abc")], "${var=xyz}", "abc"),
        (&[], "${var=xyz}", "xyz"),
        (
            &[("default_var", "foo")],
            "something ${var=${default_var}}",
            "something foo",
        ),
        (
            &[("default_var", "foo1")],
            "foo: ${var=${default_var}-suffix}",
            "foo: foo1-suffix",
        ),
        (
            &[("default_var", "foo1")],
            "foo: ${var=prefix${default_var}-suffix}",
            "foo: prefixfoo1-suffix",
        ),
        (&[], "${var:=xyz}", "xyz"),
        (&[], "${var:-xyz}", "xyz"),
        (&[("var", "")], "${var:-xyz}", "xyz"),
        (&[("var", "set")], "${var:-xyz}", "set"),
        (
            &[("stringZ", "abcABC123ABCabc")],
            "${stringZ/%abc/XYZ}",
            "abcABC123ABCXYZ",
        ),
        (
            &[("stringZ", "abcABC123ABCabc")],
            "${stringZ/#abc/XYZ}",
            "XYZABC123ABCabc",
        ),
        (
            &[("stringZ", "abcABC123ABCabc")],
            "${stringZ//abc/xyz}",
            "xyzABC123ABCxyz",
        ),
        (
            &[("stringZ", "abcABC123ABCabc")],
            "${stringZ/abc/xyz}",
            "xyzABC123ABCabc",
        ),
        (
            &[("filename", "bash.string.txt")],
            "${filename#*.}",
            "string.txt",
        ),
        (&[("filename", "path/to/file")], "${filename#*/}", "to/file"),
        (
            &[("filename", "/path/to/file")],
            "${filename#*/}",
            "path/to/file",
        ),
        (&[("filename", "bash.string.txt")], "${filename##*.}", "txt"),
        (&[("filename", "path/to/file")], "${filename##*/}", "file"),
        (&[("filename", "/path/to/file")], "${filename##*/}", "file"),
        (
            &[("filename", "bash.string.txt")],
            "${filename%.*}",
            "bash.string",
        ),
        (
            &[("filename", "bash.string.txt")],
            "${filename%%.*}",
            "bash",
        ),
        (
            &[("var01", "abcdEFGH28ij")],
            "${var=${var01^^}}",
            "ABCDEFGH28IJ",
        ),
        // Escapes: `$${var}` is a literal `${var}`; `$var` is never substituted.
        (&[("var01", "abcdEFGH28ij")], "$${var01}", "${var01}"),
        (
            &[("var01", "abcdEFGH28ij")],
            "some text ${var01}$${var$${var01}$var01${var01}",
            "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
        ),
        (
            &[("default_var", "foo")],
            "something $${var=${default_var}}",
            "something ${var=foo}",
        ),
        (
            &[("var", "x")],
            "echo $var and $HOME",
            "echo $var and $HOME",
        ),
        (&[("stringZ", "foo/bar")], r"${stringZ/\//-}", "foo-bar"),
        (
            &[("stringZ", "foo/bar/baz")],
            r"${stringZ//\//-}",
            "foo-bar-baz",
        ),
        (
            &[("default_var", "foo")],
            r"\\something ${var=${default_var}}",
            r"\\something foo",
        ),
        (&[("stringZ", "foo.bar")], "${stringZ/./}", "foobar"),
        // Undefined without default: empty outside strict mode.
        (&[], "a-${missing}-b", "a--b"),
        (&[], "$", "$"),
        (&[], "cost: 5$", "cost: 5$"),
    ];
    for (params, input, output) in table {
        assert_eq!(
            lenient(input, params).as_deref(),
            Ok(*output),
            "expanding {input:?}"
        );
    }
}

#[test]
fn envsubst_strict_mode_fails_on_undefined_variables_without_default() {
    assert_eq!(strict("${foo}", &[("foo", "bar")]).as_deref(), Ok("bar"));
    assert_eq!(strict("${foo}", &[("foo", "")]).as_deref(), Ok(""));
    for input in [
        "${missing}",
        "${#missing}",
        "${missing^}",
        "${missing^^}",
        "${missing,}",
        "${missing,,}",
        "${missing:0}",
        "${missing:0:10}",
        "${missing/pattern/replacement}",
        "${missing//pattern/replacement}",
        "${missing/#pattern/replacement}",
        "${missing/%pattern/replacement}",
        "${missing#pattern}",
        "${missing##pattern}",
        "${missing%pattern}",
        "${missing%%pattern}",
    ] {
        assert_eq!(
            strict(input, &[]),
            Err(EnvsubstError::VarNotSet("missing".into())),
            "{input}"
        );
    }
    for (input, out) in [
        ("${missing:-fallback}", "fallback"),
        ("${missing:=assigned}", "assigned"),
        ("${missing=assigned}", "assigned"),
    ] {
        assert_eq!(strict(input, &[]).as_deref(), Ok(out), "{input}");
    }
    assert_eq!(
        strict("${missing}", &[]).unwrap_err().to_string(),
        "variable not set (strict mode): \"missing\""
    );
}

#[test]
fn envsubst_rejects_malformed_expressions() {
    assert_eq!(lenient("${", &[]), Err(EnvsubstError::ParseVariableName));
    assert_eq!(lenient("${}", &[]), Err(EnvsubstError::ParseVariableName));
    assert_eq!(
        lenient("${var", &[]),
        Err(EnvsubstError::MissingClosingBrace)
    );
    assert_eq!(
        lenient("${var-default}", &[]),
        Err(EnvsubstError::MissingClosingBrace)
    );
    let deep = format!("{}x{}", "${a:=".repeat(100), "}".repeat(100));
    assert_eq!(lenient(&deep, &[]), Err(EnvsubstError::TooDeep));
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data})
}

fn run(
    obj: &Value,
    pairs: &[(&str, &str)],
    options: SubstituteOptions,
    quoted: &QuotedStrings,
) -> Result<Option<Value>, SubstituteError> {
    substitute_object(obj, &vars(pairs), options, quoted)
}

#[test]
fn substitution_types_plain_values_and_keeps_quoted_strings_strings() {
    let obj = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "labels": {"version": "${version}"}},
        "spec": {"replicas": "${replicas}", "paused": "${paused:=false}"}
    });
    let mut quoted = QuotedStrings::new();
    quoted.scan("metadata:\n  labels:\n    version: \"${version}\"\n");
    let out = run(
        &obj,
        &[("version", "1.0"), ("replicas", "3")],
        SubstituteOptions::default(),
        &quoted,
    )
    .unwrap()
    .unwrap();
    assert_eq!(out["spec"]["replicas"], json!(3));
    assert_eq!(out["spec"]["paused"], json!(false));
    assert_eq!(out["metadata"]["labels"]["version"], json!("1.0"));
}

#[test]
fn substitution_is_skipped_by_the_disabled_label_or_annotation() {
    for field in ["labels", "annotations"] {
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", field: {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}},
            "data": {"k": "${var}"}
        });
        assert_eq!(
            run(
                &obj,
                &[("var", "x")],
                SubstituteOptions::default(),
                &QuotedStrings::new()
            ),
            Ok(None)
        );
    }
}

#[test]
fn substitution_runs_only_with_variables_unless_strategy_is_always() {
    let obj = cm(json!({"k": "${var:=default}"}));
    let none = SubstituteOptions::default();
    assert_eq!(run(&obj, &[], none, &QuotedStrings::new()), Ok(None));
    let always = SubstituteOptions {
        always: true,
        ..Default::default()
    };
    let out = run(&obj, &[], always, &QuotedStrings::new())
        .unwrap()
        .unwrap();
    assert_eq!(out["data"]["k"], json!("default"));
}

#[test]
fn substitution_in_strict_mode_names_the_object_and_variable() {
    let obj = cm(json!({"k": "${undefined}"}));
    let strict = SubstituteOptions {
        strict: true,
        ..Default::default()
    };
    let err = run(&obj, &[("other", "x")], strict, &QuotedStrings::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "post build failed for '~G_v1_ConfigMap/cfg': envsubst error: variable substitution failed: variable not set (strict mode): \"undefined\""
    );
    let lenient = run(
        &obj,
        &[("other", "x")],
        SubstituteOptions::default(),
        &QuotedStrings::new(),
    )
    .unwrap()
    .unwrap();
    // An empty plain scalar reads back as null, as in Flux.
    assert_eq!(lenient["data"]["k"], Value::Null);
}

#[test]
fn substitution_keeps_escapes_and_dollar_words_literal() {
    let obj = cm(json!({
        "script": "echo $HOME $${HOME} ${name}\nexit 0\n",
        "plain": "$${literal}",
    }));
    let out = run(
        &obj,
        &[("name", "ferry")],
        SubstituteOptions::default(),
        &QuotedStrings::new(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        out["data"]["script"],
        json!("echo $HOME ${HOME} ferry\nexit 0\n")
    );
    assert_eq!(out["data"]["plain"], json!("${literal}"));
}

#[test]
fn substitution_rejects_invalid_variable_names() {
    assert!(validate_names(&vars(&[("_ok1", "x"), ("Ok_2", "y")])).is_ok());
    for bad in ["1abc", "a-b", "a.b", "", "ünicode"] {
        let err = validate_names(&vars(&[(bad, "x")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "'{bad}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
            )
        );
    }
    let obj = cm(json!({"k": "${ok}"}));
    assert!(matches!(
        run(
            &obj,
            &[("bad-name", "x")],
            SubstituteOptions::default(),
            &QuotedStrings::new()
        ),
        Err(SubstituteError::InvalidName(_))
    ));
}

#[test]
fn substitution_that_breaks_the_yaml_fails_with_yamltojson() {
    let obj = cm(json!({"k": "${v}"}));
    let err = run(
        &obj,
        &[("v", "[unclosed")],
        SubstituteOptions::default(),
        &QuotedStrings::new(),
    )
    .unwrap_err();
    assert!(matches!(err, SubstituteError::Yaml { .. }), "{err}");
    assert!(err.to_string().contains("~G_v1_ConfigMap/cfg"), "{err}");
}

#[test]
fn substitution_substitutes_keys_and_names() {
    let obj = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg-${env}", "labels": {"${team}/owner": "yes-${env}"}},
    });
    let out = run(
        &obj,
        &[("env", "prod"), ("team", "platform")],
        SubstituteOptions::default(),
        &QuotedStrings::new(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(out["metadata"]["name"], json!("cfg-prod"));
    assert_eq!(
        out["metadata"]["labels"]["platform/owner"],
        json!("yes-prod")
    );
}

#[test]
fn variables_merge_substitute_from_in_order_then_inline_wins() {
    let sources = vec![
        VarSource {
            kind: VarSourceKind::ConfigMap,
            name: "first".into(),
            optional: false,
            data: Some(vars(&[("a", "cm1"), ("b", "cm1"), ("c", "cm1")])),
        },
        VarSource {
            kind: VarSourceKind::Secret,
            name: "second".into(),
            optional: false,
            data: Some(vars(&[("b", "secret\nwith newline"), ("c", "secret")])),
        },
        VarSource {
            kind: VarSourceKind::ConfigMap,
            name: "absent".into(),
            optional: true,
            data: None,
        },
    ];
    let inline = vars(&[("c", "inline")]);
    let merged = load_variables(&sources, Some(&inline)).unwrap();
    assert_eq!(
        merged,
        vars(&[("a", "cm1"), ("b", "secretwith newline"), ("c", "inline")])
    );
}

#[test]
fn variables_from_a_missing_required_source_are_an_error() {
    let sources = vec![VarSource {
        kind: VarSourceKind::Secret,
        name: "creds".into(),
        optional: false,
        data: None,
    }];
    let err = load_variables(&sources, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "substitute from 'Secret/creds' error: secret \"creds\" not found"
    );
}

#[test]
fn each_object_keeps_the_quoting_of_its_own_file() {
    let mut styles = SourceStyles::new();
    styles.scan_file(
        "app/deploy.yaml",
        "spec:\n  replicas: ${replicas}\n  template:\n    metadata:\n      labels:\n        v: \"${version}\"\n",
    );
    styles.scan_file(
        "app/cm.yaml",
        "data:\n  replicas: \"${replicas}\" # quoted\n",
    );
    let deploy = styles.quoted_for(Some("app/deploy.yaml"));
    assert!(!deploy.contains("${replicas}"));
    assert!(deploy.contains("${version}"));
    let cm = styles.quoted_for(Some("app/cm.yaml"));
    assert!(cm.contains("${replicas}"));
    // Objects of unknown origin (generators) quote what any file quoted.
    assert!(styles.quoted_for(None).contains("${replicas}"));
}

#[test]
fn objects_without_variables_survive_the_yaml_round_trip_unchanged() {
    let tricky = [
        "$HOME",
        "cost: 5$",
        "$ leading dollar",
        "#$ not a comment",
        "- $dash",
        "multi\nline $x\n",
        "multi\nline $x",
        "trailing spaces $x  \nnext",
        "  leading spaces $x\nnext\n",
        "two trailing newlines $x\n\n",
        "\nstarts with newline $x",
        "tab\there $x",
        "quote \" and backslash \\ $x",
        "'single' $x",
        "unicode ✓ é $x",
        "true$",
        "$1.0",
        "key: value $x",
        "ends with colon $x:",
        "[not a list] $x",
        "{not: a map} $x",
        "!tag $x",
        "&anchor $x",
        "*alias $x",
        "% directive $x",
        "@at $x",
        "`tick $x",
        "|pipe $x",
        ">fold $x",
        "control \u{1} char $x",
    ];
    let mut data = serde_json::Map::new();
    for (i, s) in tricky.iter().enumerate() {
        data.insert(format!("k{i}"), json!(s));
    }
    data.insert("$key".into(), json!(7));
    data.insert(
        "list".into(),
        json!(["$a", 1, true, null, {"n": "$b"}, [], {}]),
    );
    let obj = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
        "data": Value::Object(data)
    });
    let out = run(
        &obj,
        &[("unrelated", "x")],
        SubstituteOptions::default(),
        &QuotedStrings::new(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(out, obj);
}
