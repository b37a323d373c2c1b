"""Neural Ensemble Search (Zaidi, Zela et al., NeurIPS 2021): pools, selection, metrics, export."""
