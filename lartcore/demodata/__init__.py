"""The synthetic demo dataset, written in the real formats: simulated people (`synthetic`), their motion
(`motion`) and the rendered footage of the first clips (`footage`). It produces files that `lartcore.data`
reads, so it sits above the data layer and the renderer."""
