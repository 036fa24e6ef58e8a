"""Gold: the rule pack, rule hits, alerts, the publish gate and detection quality."""
