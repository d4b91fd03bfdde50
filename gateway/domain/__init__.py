"""The domain's own vocabulary: members, assessments, products, claims. Pure: no I/O."""
