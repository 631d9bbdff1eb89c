"""Template fingerprints and task signals from text."""

from __future__ import annotations

from distillguard.models.text_signals import (
    elicits_chain_of_thought,
    exact_fingerprint,
    looks_like_coding,
    template_fingerprint,
)


def test_template_fills_share_a_fingerprint() -> None:
    fills = [
        f'Write a function `parse_{n}` in Python that handles {n * 7} records from "{name}". '
        "Think step by step and show your full reasoning."
        for n, name in [(1, "orders.csv"), (22, "users table"), (333, "Mary's log")]
    ]
    assert len({template_fingerprint(f) for f in fills}) == 1


def test_code_blocks_and_names_are_slots() -> None:
    a = "Explain what this code does for Alice:\n```python\nprint(1)\n```"
    b = "Explain what this code does for Bob:\n```js\nconsole.log(2); let x = 3;\n```"
    assert template_fingerprint(a) == template_fingerprint(b)


def test_unrelated_prompts_differ() -> None:
    prompts = [
        "what should I cook tonight with leftover rice",
        "help me write a birthday message for my sister",
        "why is the sky blue",
        "summarise the french revolution in three sentences",
    ]
    assert len({template_fingerprint(p) for p in prompts}) == len(prompts)


def test_exact_fingerprint_is_16_hex_and_whitespace_blind() -> None:
    fp = exact_fingerprint("Hello   World")
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fp == exact_fingerprint("hello world")


def test_task_signals() -> None:
    assert looks_like_coding("Fix this stack trace from my Django app")
    assert not looks_like_coding("what is a good name for a cat")
    assert elicits_chain_of_thought("Solve it step by step")
    assert elicits_chain_of_thought("Please show your full reasoning before the final answer.")
    assert not elicits_chain_of_thought("write me a poem about the sea")


def test_chain_of_thought_paraphrases_are_caught_and_plain_instructions_are_not() -> None:
    asks = ["Please lay out each step of your reasoning.", "Explain your logic.",
            "Show me how you arrived at the result", "Justify each step.",
            "Take it one step at a time", "Think it through before replying",
            "Let's think about this", "Provide the intermediate steps",
            "Describe your thought process", "Include your rationale",
            # a process term and a verb of showing in one short clause, no fixed phrase
            "Solve 3x = 12. Lay out each stage of the work before the result.",
            "Why is 91 not prime? Break it down into steps, please.",
            "Don't just state the answer, derive it."]
    plain = ["List the steps to install docker", "Explain photosynthesis",
             "Give me all the steps to bake bread", "Explain the steps of mitosis",
             "Show the logs", "Write a poem about the sea",
             "List all files under the current working directory",
             "what steps should i take if i think my car battery is dead",
             "Toby wants to walk an average of 9,000 steps per day. How many on Friday?"]
    assert [a for a in asks if not elicits_chain_of_thought(a)] == []
    assert [p for p in plain if elicits_chain_of_thought(p)] == []
