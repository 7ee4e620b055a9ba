//! What `scripts/deploy.sh` does with the stack it finds, decided before it deploys.
//!
//! - No stack: create it.
//! - `ROLLBACK_COMPLETE` (a first creation failed and rolled back): CloudFormation cannot update
//!   such a stack, so it is deleted first (empty: the lake bucket is `RetainExceptOnCreate`, so
//!   it went with the rollback) and created again.
//! - A stack in the middle of an operation: wait for it and run again.
//! - A live stack whose `LakeFormat` would change: refused. The Glue table would switch its
//!   SerDe for all of `readings/` while the objects already there keep their format, so every
//!   window touching an older hour would read JSON as Parquet (or the reverse).

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create the stack.
    Create,
    /// Update the stack.
    Update,
    /// Delete the rolled-back stack, then create it.
    DeleteThenCreate,
}

/// Decides from the stack's status (`None`: no stack), its current `LakeFormat` and the wanted
/// one; an error says why deploying now is refused and what to do instead.
pub fn decide(
    status: Option<&str>,
    current_format: Option<&str>,
    format: &str,
) -> Result<Action, String> {
    let Some(status) = status else {
        return Ok(Action::Create);
    };
    if status == "ROLLBACK_COMPLETE" {
        return Ok(Action::DeleteThenCreate);
    }
    if status.ends_with("_IN_PROGRESS") {
        return Err(format!(
            "the stack is {status}; wait for it to finish (aws cloudformation describe-stacks) and run deploy again"
        ));
    }
    if status == "DELETE_COMPLETE" {
        return Ok(Action::Create);
    }
    match current_format {
        Some(current) if current != format => Err(format!(
            "the stack's LakeFormat is {current}; changing it to {format} on a live stack would make the Glue table read every {current} object already under readings/ as {format}. Keep STORE_LAKE_FORMAT={current}, or migrate: deploy a new stack with {format} (another STORE_STACK_NAME), point store-app at it, and retire the old one once its window has passed"
        )),
        _ => Ok(Action::Update),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rolled_back_first_creation_is_deleted_then_created_again() {
        assert_eq!(decide(None, None, "json"), Ok(Action::Create));
        assert_eq!(
            decide(Some("ROLLBACK_COMPLETE"), Some("json"), "parquet"),
            Ok(Action::DeleteThenCreate)
        );
        assert_eq!(
            decide(Some("UPDATE_COMPLETE"), Some("json"), "json"),
            Ok(Action::Update)
        );
        assert_eq!(
            decide(Some("UPDATE_ROLLBACK_COMPLETE"), Some("json"), "json"),
            Ok(Action::Update)
        );
        assert!(
            decide(Some("UPDATE_IN_PROGRESS"), None, "json")
                .unwrap_err()
                .contains("wait")
        );
    }

    #[test]
    fn changing_the_lake_format_of_a_live_stack_is_refused_with_the_way_to_migrate() {
        let err = decide(Some("CREATE_COMPLETE"), Some("json"), "parquet").unwrap_err();
        assert!(
            err.contains("LakeFormat is json") && err.contains("migrate"),
            "{err}"
        );
    }
}
