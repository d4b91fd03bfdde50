"""The fan-out: a claim's payer steps, run in tier order by workers that lease the claim."""
