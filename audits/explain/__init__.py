"""Attribution explanations (Captum, SHAP) with the faithfulness of each explanation measured."""
