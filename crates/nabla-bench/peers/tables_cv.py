"""scikit-learn's cross-validated scores on the four UCI tables in ../shared/data/tabular: the
bar `nabla train TABLE --target COL --folds 5` is measured against (docs/RECIPES.md).

Each table is read with pandas; features standardised inside a Pipeline (fitted on each
training fold only); 5 shuffled folds with random_state 0, stratified for the classification
tables. Linear models (logistic / least-squares regression) and scikit-learn's default MLPs.
Run with the peers' venv: ~/.cache/nabla-peers/venv/bin/python tables_cv.py [DATA_DIR]
"""
import json
import sys
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

TABLES = [
    ("iris", "species", "classify"),
    ("wine", "cultivar", "classify"),
    ("breast_cancer", "diagnosis", "classify"),
    ("diabetes", "progression", "regress"),
]


def main() -> None:
    data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    warnings.filterwarnings("ignore")  # the default MLPs stop at max_iter=200 with a warning
    for name, target, task in TABLES:
        df = pd.read_csv(f"{data}/tabular/{name}.csv")
        x = df.drop(columns=[target]).to_numpy(dtype=float)
        y = df[target].astype(str).to_numpy() if task == "classify" else df[target].to_numpy(dtype=float)
        if task == "classify":
            cv, scoring = StratifiedKFold(5, shuffle=True, random_state=0), "accuracy"
            models = {"linear": LogisticRegression(max_iter=1000), "mlp": MLPClassifier(random_state=0)}
        else:
            cv, scoring = KFold(5, shuffle=True, random_state=0), "r2"
            models = {"linear": LinearRegression(), "mlp": MLPRegressor(random_state=0)}
        for model, estimator in models.items():
            scores = cross_val_score(make_pipeline(StandardScaler(), estimator), x, y, cv=cv, scoring=scoring)
            print(json.dumps({
                "peer": f"scikit-learn {sklearn.__version__}", "table": name, "model": model,
                "metric": scoring, "mean": round(float(np.mean(scores)), 4), "std": round(float(np.std(scores)), 4),
            }))


if __name__ == "__main__":
    main()
