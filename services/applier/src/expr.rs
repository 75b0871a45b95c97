//! CEL expressions of `spec.healthCheckExprs` and `spec.dependsOn[].readyExpr`, evaluated with
//! the `cel` crate (cel-rust) the way Flux evaluates them.

use flux_api::kustomize::CustomHealthCheck;
use serde_json::Value;

use crate::health::{HealthStatus, status_of};

/// A CEL expression that did not compile or evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The expression does not parse.
    #[error("invalid CEL expression {expr:?}: {message}")]
    Invalid {
        /// The expression.
        expr: String,
        /// The parser's message.
        message: String,
    },
    /// Evaluation failed (a missing field, a type error) or did not give a boolean.
    #[error("evaluating CEL expression {expr:?}: {message}")]
    Eval {
        /// The expression.
        expr: String,
        /// What went wrong.
        message: String,
    },
}

/// Checks that an expression compiles.
pub fn check(expr: &str) -> Result<(), ExprError> {
    cel::Program::compile(expr)
        .map(|_| ())
        .map_err(|e| ExprError::Invalid {
            expr: expr.to_owned(),
            message: e.to_string(),
        })
}

/// Evaluates a boolean expression with the given top-level variables.
pub fn eval_bool(expr: &str, vars: &[(&str, &Value)]) -> Result<bool, ExprError> {
    let program = cel::Program::compile(expr).map_err(|e| ExprError::Invalid {
        expr: expr.to_owned(),
        message: e.to_string(),
    })?;
    let mut context = cel::Context::default();
    for (name, value) in vars {
        context
            .add_variable(*name, *value)
            .map_err(|e| ExprError::Eval {
                expr: expr.to_owned(),
                message: e.to_string(),
            })?;
    }
    match program.execute(&context) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(ExprError::Eval {
            expr: expr.to_owned(),
            message: format!("expected a boolean, got {other:?}"),
        }),
        Err(e) => Err(ExprError::Eval {
            expr: expr.to_owned(),
            message: e.to_string(),
        }),
    }
}

/// Checks every expression of a Kustomization's `healthCheckExprs`.
pub fn check_health_exprs(checks: &[CustomHealthCheck]) -> Result<(), ExprError> {
    for c in checks {
        check(&c.current)?;
        for e in c.in_progress.iter().chain(c.failed.iter()) {
            check(e)?;
        }
    }
    Ok(())
}

/// Custom health rules (`healthCheckExprs`) in front of the built-in kstatus rules.
#[derive(Debug, Clone, Default)]
pub struct HealthRules {
    checks: Vec<CustomHealthCheck>,
}

impl HealthRules {
    /// Rules from `spec.healthCheckExprs`; fails on an expression that does not compile.
    pub fn new(checks: Vec<CustomHealthCheck>) -> Result<Self, ExprError> {
        check_health_exprs(&checks)?;
        Ok(Self { checks })
    }

    fn rule_for(&self, obj: &Value) -> Option<&CustomHealthCheck> {
        let api_version = obj.get("apiVersion").and_then(Value::as_str)?;
        let kind = obj.get("kind").and_then(Value::as_str)?;
        self.checks
            .iter()
            .find(|c| c.api_version == api_version && c.kind.as_deref().is_none_or(|k| k == kind))
    }

    /// The object's health: a matching rule decides (observedGeneration behind → in
    /// progress; then `inProgress`, `failed`, `current` in that order; none true → in
    /// progress), otherwise [`status_of`]. The object's top-level fields (`metadata`,
    /// `spec`, `status`, ...) are the expression's variables, as in Flux.
    pub fn status_of(&self, obj: &Value) -> HealthStatus {
        let Some(rule) = self.rule_for(obj) else {
            return status_of(obj);
        };
        let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
        let observed = obj
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        if let (Some(g), Some(o)) = (generation, observed)
            && o < g
        {
            return HealthStatus::InProgress(format!(
                "observedGeneration {o} is behind generation {g}"
            ));
        }
        let empty = serde_json::Map::new();
        let fields = obj.as_object().unwrap_or(&empty);
        let mut vars: Vec<(&str, &Value)> = fields.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let null = Value::Object(Default::default());
        if !fields.contains_key("status") {
            vars.push(("status", &null));
        }
        let eval = |e: &str| eval_bool(e, &vars);
        if let Some(e) = &rule.in_progress {
            match eval(e) {
                Ok(true) => return HealthStatus::InProgress(format!("{e} is true")),
                Ok(false) => {}
                Err(err) => return HealthStatus::InProgress(err.to_string()),
            }
        }
        if let Some(e) = &rule.failed {
            match eval(e) {
                Ok(true) => return HealthStatus::Failed(format!("{e} is true")),
                Ok(false) => {}
                Err(err) => return HealthStatus::InProgress(err.to_string()),
            }
        }
        match eval(&rule.current) {
            Ok(true) => HealthStatus::Current,
            Ok(false) => {
                HealthStatus::InProgress(format!("waiting for {} to be true", rule.current))
            }
            Err(err) => HealthStatus::InProgress(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> HealthRules {
        HealthRules::new(vec![CustomHealthCheck {
            api_version: "example.com/v1".into(),
            kind: Some("Widget".into()),
            current: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
                .into(),
            in_progress: None,
            failed: Some(
                "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')".into(),
            ),
        }])
        .expect("expressions compile")
    }

    fn widget(status: &str) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
               "status": {"conditions": [{"type": "Ready", "status": status}]}})
    }

    #[test]
    fn health_check_exprs_decide_current_failed_and_in_progress() {
        let r = rules();
        assert_eq!(r.status_of(&widget("True")), HealthStatus::Current);
        assert!(matches!(
            r.status_of(&widget("False")),
            HealthStatus::Failed(_)
        ));
        assert!(matches!(
            r.status_of(&widget("Unknown")),
            HealthStatus::InProgress(_)
        ));
    }

    #[test]
    fn other_kinds_use_the_built_in_rules() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(rules().status_of(&cm), HealthStatus::Current);
    }

    #[test]
    fn invalid_expressions_are_rejected_up_front() {
        let bad = CustomHealthCheck {
            api_version: "example.com/v1".into(),
            kind: None,
            current: "status.(".into(),
            in_progress: None,
            failed: None,
        };
        assert!(matches!(
            HealthRules::new(vec![bad]),
            Err(ExprError::Invalid { .. })
        ));
    }

    #[test]
    fn ready_expr_sees_the_dependency() {
        let dep = json!({"status": {"lastAppliedRevision": "a"}, "metadata": {"generation": 1}});
        assert_eq!(
            eval_bool("dep.status.lastAppliedRevision == 'a'", &[("dep", &dep)]),
            Ok(true)
        );
        assert!(eval_bool("dep.status.missing == 'a'", &[("dep", &dep)]).is_err());
    }
}
