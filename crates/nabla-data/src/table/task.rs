//! Classification or regression: what the target column asks for.

use super::{Cells, Column};

/// Most distinct integer values a numeric target may have and still be read as classes.
pub const MAX_CLASSES: usize = 20;

/// What is learnt from the target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Predict one of a set of classes (softmax cross-entropy).
    Classify,
    /// Predict a number (a regression loss on the standardised target).
    Regress,
}

impl Task {
    /// The task's name as the CLI prints it and `--task` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classify => "classify",
            Task::Regress => "regress",
        }
    }
}

/// The `--task` flag: the task as told, or left to the target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskChoice {
    /// Decide from the target column ([`infer_task`]).
    #[default]
    Auto,
    /// Always this task.
    Fixed(Task),
}

impl std::str::FromStr for TaskChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(TaskChoice::Auto),
            "classify" | "classification" => Ok(TaskChoice::Fixed(Task::Classify)),
            "regress" | "regression" => Ok(TaskChoice::Fixed(Task::Regress)),
            other => Err(format!("unknown task `{other}` (expected classify, regress or auto)")),
        }
    }
}

/// The task a target column asks for, and why, in words for the person training.
///
/// Text (strings, booleans) is always classes. Numbers are classes when every value is a whole
/// number and there are at most [`MAX_CLASSES`] distinct ones; any other numbers (fractions,
/// or many distinct integers, as diabetes' disease-progression score) are a regression.
pub fn infer_task(target: &Column) -> (Task, String) {
    match &target.cells {
        Cells::Text(_) => (Task::Classify, "the target holds text".to_string()),
        Cells::Numbers(values) => {
            let present = values.iter().filter(|v| !v.is_nan());
            if present.clone().any(|v| v.fract() != 0.0) {
                return (Task::Regress, "the target holds fractional numbers".to_string());
            }
            let mut distinct: Vec<f64> = present.copied().collect();
            distinct.sort_by(f64::total_cmp);
            distinct.dedup();
            if distinct.len() <= MAX_CLASSES {
                (
                    Task::Classify,
                    format!("the target holds {} distinct whole numbers (at most {MAX_CLASSES})", distinct.len()),
                )
            } else {
                (
                    Task::Regress,
                    format!("the target holds {} distinct whole numbers (more than {MAX_CLASSES})", distinct.len()),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(v: &[f64]) -> Column {
        Column { name: "y".into(), cells: Cells::Numbers(v.to_vec()) }
    }

    #[test]
    fn the_target_decides_the_task() {
        assert_eq!(infer_task(&numbers(&[0.0, 1.0, 2.0, 1.0, f64::NAN])).0, Task::Classify);
        assert_eq!(infer_task(&numbers(&[0.5, 1.0])).0, Task::Regress);
        let many: Vec<f64> = (0..21).map(f64::from).collect();
        assert_eq!(infer_task(&numbers(&many)).0, Task::Regress);
        assert_eq!(infer_task(&numbers(&many[..20])).0, Task::Classify);
        let text = Column { name: "y".into(), cells: Cells::Text(vec![Some("true".into()), Some("false".into())]) };
        assert_eq!(infer_task(&text), (Task::Classify, "the target holds text".to_string()));
    }

    #[test]
    fn the_task_flag_parses_and_an_unknown_one_is_named() {
        assert_eq!("regress".parse::<TaskChoice>(), Ok(TaskChoice::Fixed(Task::Regress)));
        assert_eq!("classify".parse::<TaskChoice>(), Ok(TaskChoice::Fixed(Task::Classify)));
        assert_eq!("auto".parse::<TaskChoice>(), Ok(TaskChoice::Auto));
        assert_eq!(
            "cluster".parse::<TaskChoice>().unwrap_err(),
            "unknown task `cluster` (expected classify, regress or auto)"
        );
    }
}
