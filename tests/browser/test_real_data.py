"""Real data in a real browser: files of each shape uploaded on the Examples page, read and said, their tool
calls, tool results and reasoning as chips of their own on Tokens & labels, and a tool call edited."""

import json

from lab.data import Workspace
from tests.browser.fixtures import screenshot, settle
from tests.data.test_real_data import AGENT_ROW, ALPACA, SHAREGPT


def upload(tab, path) -> str:
    """Replace the set with a file, as a person does; returns the sentence the page answers with. The expander
    and the popover may be open or closed from the file before: each is opened when it is not."""
    if tab.get_by_test_id("stFileUploaderDropzone").first.is_hidden():
        tab.get_by_text("Start from a built-in sample or a file").first.click()
    tab.locator("input[type=file]").set_input_files(str(path))
    tab.get_by_text(path.name, exact=True).first.wait_for(timeout=30_000)  # the uploader lists it
    settle(tab)
    confirm = tab.get_by_role("button", name="Yes, replace with the file")
    for _ in range(20):
        if confirm.is_visible():
            break
        replace = tab.get_by_role("button", name="Replace with it").first
        if replace.is_visible():
            replace.click()
        else:
            tab.get_by_text("Start from a built-in sample or a file").first.click()
        tab.wait_for_timeout(500)
    confirm.click()
    said = tab.get_by_text(f"Loaded 1 example from {path.name}").first
    said.wait_for(timeout=30_000)
    settle(tab)
    return said.inner_text()


def test_each_shape_is_read_said_shown_and_a_tool_call_edited(page, serve, lab_home, tmp_path):
    url = serve()
    page.goto(url + "/?format=chat-template&template=qwen3")
    page.get_by_text("What the model reads").first.wait_for(timeout=90_000)
    settle(page)
    files = {
        "sharegpt.json": json.dumps([SHAREGPT]),
        "alpaca.jsonl": json.dumps(ALPACA) + "\n",
        "agent.jsonl": json.dumps(AGENT_ROW) + "\n",
    }
    said = {}
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        said[name] = upload(page, path)
    screenshot(page, "real-data-uploaded")  # after the last (a full-page screenshot re-lays the page out)
    sharegpt = "Its rows were read as ShareGPT: human → user, function_call → an assistant tool call"
    assert sharegpt in said["sharegpt.json"]
    assert "read as Alpaca: instruction and input" in said["alpaca.jsonl"]
    assert "read as" not in said["agent.jsonl"]  # TRL's own shape: nothing converted

    # The agent row's chips: the tool call, the tool's result and the reasoning each drawn in their own colours.
    page.get_by_role("link", name="Tokens & labels").click()
    page.locator(".sl-chips").first.wait_for(timeout=60_000)
    settle(page)
    assert page.locator(".sl-chips .sl-c.pt-tool-call").count() > 0
    assert page.locator(".sl-chips .sl-c.pt-reasoning").count() > 0
    assert page.locator(".sl-chips .sl-c.sl-tool").count() > 0
    assert page.get_by_text("tool-output-trained").count() > 0  # copy trains the tool's result, and says so
    screenshot(page, "real-data-chips")
    page.locator(".sl-chips").first.screenshot(
        path=str(screenshot(page, "real-data-chips").parent / "real-data-chip-rows.png")
    )

    # Edit the tool call: a malformed one is refused in a sentence and nothing is written; a good one is kept.
    page.get_by_role("link", name="Examples").click()
    page.get_by_text("Tool call 0 of turn 2").first.wait_for(timeout=60_000)
    settle(page)
    arguments = page.get_by_label("Arguments (a JSON object)")
    arguments.fill('{"city": ')
    page.get_by_role("button", name="Save the tool call").click()
    page.get_by_text("are not JSON").first.wait_for(timeout=30_000)
    settle(page)
    call = Workspace(lab_home).examples()[0].conversation.turns[2].tool_calls[0]
    assert call["function"]["arguments"] == {"city": "Paris"}
    page.get_by_text("Tool call 0 of turn 2").first.scroll_into_view_if_needed()
    screenshot(page, "real-data-bad-tool-call")
    page.get_by_label("Arguments (a JSON object)").fill('{"city": "Lyon"}')
    page.get_by_role("button", name="Save the tool call").click()
    settle(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('Lyon'))", timeout=30_000
    )
    [example] = Workspace(lab_home).examples()
    assert example.conversation.turns[2].tool_calls[0]["function"]["arguments"] == {"city": "Lyon"}
    assert example.conversation.turns[3].other() == {"name": "get_weather"}  # the other keys are kept
    screenshot(page, "real-data-tool-call-edited")
