//! CEL evaluation of `x-kubernetes-validations` rules and their messages.

use serde_json::Value;

/// Evaluates one rule with `self` (and `oldSelf` when given); an error describes why the rule
/// could not be evaluated.
pub(super) fn eval_rule(expr: &str, value: &Value, old: Option<&Value>) -> Result<bool, String> {
    let program = cel::Program::compile(expr)
        .map_err(|e| format!("compilation failed for rule {expr:?}: {e}"))?;
    let mut ctx = cel::Context::default();
    ctx.add_variable("self", value)
        .map_err(|e| format!("rule {expr:?}: {e}"))?;
    if let Some(o) = old {
        ctx.add_variable("oldSelf", o)
            .map_err(|e| format!("rule {expr:?}: {e}"))?;
    }
    match program.execute(&ctx) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("rule {expr:?} evaluated to {other:?}, not a bool")),
        Err(e) => Err(format!("rule {expr:?}: {e}")),
    }
}

/// `messageExpression` (when it yields a non-empty string), else `message`, else the rule.
pub(super) fn rule_message(rule: &Value, expr: &str, value: &Value, old: Option<&Value>) -> String {
    if let Some(me) = rule.get("messageExpression").and_then(Value::as_str)
        && let Ok(p) = cel::Program::compile(me)
    {
        let mut ctx = cel::Context::default();
        let bound = ctx.add_variable("self", value).is_ok()
            && old.is_none_or(|o| ctx.add_variable("oldSelf", o).is_ok());
        if bound
            && let Ok(cel::Value::String(s)) = p.execute(&ctx)
            && !s.trim().is_empty()
        {
            return s.to_string();
        }
    }
    match rule.get("message").and_then(Value::as_str) {
        Some(m) if !m.trim().is_empty() => m.trim().to_string(),
        _ => format!("failed rule: {expr}"),
    }
}

/// Whether any node of the schema carries CEL rules (the real server only then reports that
/// rules were skipped).
pub(super) fn has_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => m.contains_key("x-kubernetes-validations") || m.values().any(has_rules),
        Value::Array(a) => a.iter().any(has_rules),
        _ => false,
    }
}
