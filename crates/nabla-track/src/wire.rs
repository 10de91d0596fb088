//! The JSON shapes of the dashboard's read API that both ends know: the server (nabla-ui)
//! writes them and [`crate::Remote`] reads them back, from one definition.

use serde::{Deserialize, Serialize};

use crate::query::{ArtifactRecord, Point};

/// An artifact as the API lists it: no server-side path, the URL that downloads it instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactView {
    /// The content's SHA-256, hex: its identity in the store.
    pub sha256: String,
    /// What it is (`checkpoint`, `plot`, …).
    pub kind: String,
    /// The name it was logged under.
    pub name: String,
    /// Where it came from, if it was logged from a file.
    pub source: Option<String>,
    /// Its size.
    pub bytes: u64,
    /// Unix seconds when it was logged.
    pub created: f64,
    /// `/api/runs/{run}/artifacts/{sha256}`, relative to the server.
    pub url: String,
}

impl ArtifactView {
    /// The view of run `run_id`'s artifact `a`.
    pub fn new(run_id: &str, a: ArtifactRecord) -> ArtifactView {
        ArtifactView {
            url: format!("/api/runs/{run_id}/artifacts/{}", a.sha256),
            sha256: a.sha256,
            kind: a.kind,
            name: a.name,
            source: a.source,
            bytes: a.bytes,
            created: a.created,
        }
    }

    /// The record again, its `path` the download URL under `base` (`http://host:port`).
    pub fn into_record(self, base: &str) -> ArtifactRecord {
        ArtifactRecord {
            path: format!("{base}{}", self.url).into(),
            sha256: self.sha256,
            kind: self.kind,
            name: self.name,
            source: self.source,
            bytes: self.bytes,
            created: self.created,
        }
    }
}

/// Points as parallel arrays (smaller than one object per point, and what a chart wants).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Columns {
    /// The steps.
    pub steps: Vec<u64>,
    /// The values (NaN as null: JSON has no NaN).
    pub values: Vec<Option<f64>>,
    /// Unix seconds.
    pub wall_times: Vec<f64>,
}

impl Columns {
    /// `points` as columns.
    pub fn from_points(points: &[Point]) -> Columns {
        Columns {
            steps: points.iter().map(|p| p.step).collect(),
            values: points.iter().map(|p| Some(p.value).filter(|v| v.is_finite())).collect(),
            wall_times: points.iter().map(|p| p.wall_time).collect(),
        }
    }

    /// The points again (a null value is NaN), or `None` when the columns differ in length.
    pub fn into_points(self) -> Option<Vec<Point>> {
        if self.steps.len() != self.values.len() || self.steps.len() != self.wall_times.len() {
            return None;
        }
        let points = self.steps.into_iter().zip(self.values).zip(self.wall_times);
        Some(
            points
                .map(|((step, value), wall_time)| Point { step, value: value.unwrap_or(f64::NAN), wall_time })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_carry_points_there_and_back_with_nan_as_null() {
        let points =
            vec![Point { step: 0, value: 1.5, wall_time: 10.0 }, Point { step: 3, value: f64::NAN, wall_time: 11.0 }];
        let json = serde_json::to_string(&Columns::from_points(&points)).unwrap();
        assert_eq!(json, r#"{"steps":[0,3],"values":[1.5,null],"wall_times":[10.0,11.0]}"#);
        let back = serde_json::from_str::<Columns>(&json).unwrap().into_points().unwrap();
        assert_eq!(back[0], points[0]);
        assert!(back[1].value.is_nan() && back[1].step == 3);
        let ragged = Columns { steps: vec![1], values: vec![], wall_times: vec![1.0] };
        assert!(ragged.into_points().is_none());
    }
}
