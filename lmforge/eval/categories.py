"""Subject -> category (STEM / Social Science / Humanities / Other) for MMLU, C-Eval and CMMLU,
as their authors group them (MMLU: lm-eval's groups; C-Eval: subject_mapping.json; CMMLU: the
category of each subject's first sub-category). Subjects not listed are 'uncategorised'."""

from __future__ import annotations

CATEGORIES = ("STEM", "Social Science", "Humanities", "Other")

_MMLU = {
    "STEM": "abstract_algebra anatomy astronomy college_biology college_chemistry college_computer_science "
            "college_mathematics college_physics computer_security conceptual_physics electrical_engineering "
            "elementary_mathematics high_school_biology high_school_chemistry high_school_computer_science "
            "high_school_mathematics high_school_physics high_school_statistics machine_learning",
    "Social Science": "econometrics high_school_geography high_school_government_and_politics "
                      "high_school_macroeconomics high_school_microeconomics high_school_psychology "
                      "human_sexuality professional_psychology public_relations security_studies sociology "
                      "us_foreign_policy",
    "Humanities": "formal_logic high_school_european_history high_school_us_history high_school_world_history "
                  "international_law jurisprudence logical_fallacies moral_disputes moral_scenarios philosophy "
                  "prehistory professional_law world_religions",
    "Other": "business_ethics clinical_knowledge college_medicine global_facts human_aging management marketing "
             "medical_genetics miscellaneous nutrition professional_accounting professional_medicine virology",
}
_CEVAL = {
    "STEM": "computer_network operating_system computer_architecture college_programming college_physics "
            "college_chemistry advanced_mathematics probability_and_statistics discrete_mathematics "
            "electrical_engineer metrology_engineer high_school_mathematics high_school_physics "
            "high_school_chemistry high_school_biology middle_school_mathematics middle_school_biology "
            "middle_school_physics middle_school_chemistry veterinary_medicine",
    "Social Science": "college_economics business_administration marxism mao_zedong_thought education_science "
                      "teacher_qualification high_school_politics high_school_geography middle_school_politics "
                      "middle_school_geography",
    "Humanities": "modern_chinese_history ideological_and_moral_cultivation logic law "
                  "chinese_language_and_literature art_studies professional_tour_guide legal_professional "
                  "high_school_chinese high_school_history middle_school_history",
    "Other": "civil_servant sports_science plant_protection basic_medicine clinical_medicine "
             "urban_and_rural_planner accountant fire_engineer environmental_impact_assessment_engineer "
             "tax_accountant physician",
}
_CMMLU = {
    "STEM": "anatomy astronomy college_actuarial_science college_engineering_hydrology college_mathematics "
            "college_medical_statistics computer_science conceptual_physics electrical_engineering "
            "elementary_mathematics genetics high_school_biology high_school_chemistry high_school_mathematics "
            "high_school_physics machine_learning virology",
    "Social Science": "ancient_chinese business_ethics chinese_civil_service_exam chinese_food_culture "
                      "chinese_foreign_policy chinese_teacher_qualification college_education economics "
                      "education elementary_chinese ethnology high_school_geography high_school_politics "
                      "journalism management marketing modern_chinese professional_accounting "
                      "professional_psychology public_relations security_study sociology",
    "Humanities": "arts chinese_history chinese_literature college_law global_facts international_law "
                  "jurisprudence logical marxist_theory philosophy professional_law world_history "
                  "world_religions",
    "Other": "agronomy chinese_driving_rule clinical_knowledge college_medicine computer_security "
             "construction_project_management elementary_commonsense elementary_information_and_technology "
             "food_science human_sexuality legal_and_moral_basis nutrition professional_medicine "
             "sports_science traditional_chinese_medicine",
}


def _invert(groups: dict[str, str]) -> dict[str, str]:
    return {s: cat for cat, names in groups.items() for s in names.split()}


SUBJECT_CATEGORY: dict[str, dict[str, str]] = {"mmlu": _invert(_MMLU), "ceval": _invert(_CEVAL),
                                               "cmmlu": _invert(_CMMLU)}


def category(task: str, subject: str) -> str:
    """The category of `subject` in benchmark `task`, or 'uncategorised'."""
    return SUBJECT_CATEGORY.get(task, {}).get(subject, "uncategorised")
