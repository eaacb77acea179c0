"""Recipes: the seed systems as YAML files run stage by stage (`lmforge run`)."""
