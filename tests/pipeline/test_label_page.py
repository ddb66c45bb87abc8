"""bball-label: the label store, its HTTP server, and the page in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline.clip_export import ClipExporter
from pipeline.label_page import LabelStore, main as label_main, serve
from recognizer.data import read_dataset
from tests.webpages import annotate, chrome, console_errors, synthetic_game, wait_for
from tracker.common.errors import UsageError


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("label")
    annotate(synthetic_game(folder, latecomer=True), clips=ClipExporter(folder / "clips"))
    return folder / "clips"


@pytest.fixture
def root(exported, tmp_path) -> Path:
    """A fresh copy of the export folder for each test."""
    return Path(shutil.copytree(exported, tmp_path / "clips"))


def annotations(root: Path) -> dict[str, int]:
    return json.loads((root / "annotation_dict.json").read_text())


def log(root: Path) -> list[dict]:
    path = root / "labels_log.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


class Server:
    def __init__(self, root: Path) -> None:
        self.httpd = serve(root, port=0)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def get(self, path: str, headers: dict | None = None):
        return urllib.request.urlopen(urllib.request.Request(self.url + path, headers=headers or {}))

    def post(self, payload: dict):
        req = urllib.request.Request(self.url + "api/label", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        return json.loads(urllib.request.urlopen(req).read())


@pytest.fixture
def server(root):
    s = Server(root)
    yield s
    s.close()


def test_store_saves_each_change_atomically_and_logs_it(root):
    store = LabelStore(root)
    clips = store.state()["clips"]
    confidences = [c["confidence"] for c in clips]
    assert confidences == sorted(confidences) and len(clips) == len(annotations(root))  # least confident first
    first, second = clips[0]["id"], clips[1]["id"]
    before = annotations(root)
    entry = store.set_label(first, 3)
    assert (entry["clip"], entry["old"], entry["new"]) == (first, before[first], 3) and entry["time"]
    assert annotations(root) == {**before, first: 3}
    store.set_label(second, before[second])  # accept: logged, the label stays
    store.set_label(first, 10)  # discard
    assert annotations(root) == {**before, first: 10}
    assert [(e["clip"], e["old"], e["new"]) for e in log(root)] == [
        (first, before[first], 3), (second, before[second], before[second]), (first, 3, 10)]
    assert not list(root.glob(".*partial*"))
    state = {c["id"]: c for c in LabelStore(root).state()["clips"]}  # what a reload shows
    assert state[first]["label"] == 10 and state[first]["reviewed"] and state[second]["reviewed"]
    assert state[first]["predicted"] == before[first]
    assert sum(c["reviewed"] for c in state.values()) == 2
    assert first not in {it.key for it in read_dataset(root).items}  # discarded: the trainer drops it
    with pytest.raises(UsageError, match="unknown clip"):
        store.set_label("nope", 1)
    with pytest.raises(UsageError, match="unknown class"):
        store.set_label(first, 11)


def test_server_serves_only_annotated_clips_with_byte_ranges(server, root):
    state = json.loads(server.get("api/clips").read())
    key = state["clips"][0]["id"]
    size = (root / "examples" / f"{key}.mp4").stat().st_size
    whole = server.get(f"examples/{key}.mp4")
    assert whole.headers["Content-Type"] == "video/mp4" and len(whole.read()) == size
    part = server.get(f"examples/{key}.mp4", {"Range": "bytes=10-19"})
    assert part.status == 206 and part.read() == (root / "examples" / f"{key}.mp4").read_bytes()[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{size}"
    for bad in ("examples/..%2Fannotation_dict.mp4", "examples/../annotation_dict.json", "clips.jsonl",
                "examples/nope.mp4"):
        with pytest.raises(urllib.error.HTTPError) as err:
            server.get(bad)
        assert err.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as err:
        server.post({"clip": key, "label": 42})
    assert err.value.code == 400 and annotations(root)[key] == state["clips"][0]["label"]
    assert server.post({"clip": key, "label": 6})["new"] == 6 and annotations(root)[key] == 6
    assert server.httpd.server_address[0] == "127.0.0.1"


def test_cli_needs_an_export_folder(tmp_path, capsys):
    assert label_main([str(tmp_path), "--no-browser"]) == 5
    err = capsys.readouterr().err
    assert err.startswith("bball-label: error:") and "export clips with bball-annotate --export-clips" in err


def test_page_relabels_by_keyboard_and_the_file_changes(root):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = chrome()
    server = Server(root)
    try:
        driver.get(server.url)
        cards = wait_for(lambda: driver.find_elements("css selector", ".clip"), what="the clip grid")
        state = LabelStore(root).state()["clips"]
        assert [c.get_attribute("data-id") for c in cards] == [c["id"] for c in state]  # least confident first
        first, second, third = (c["id"] for c in state[:3])
        before = annotations(root)
        # the exported H.264 crops play in the browser
        wait_for(lambda: driver.execute_script(
            "return Array.from(document.querySelectorAll('.clip video')).every(v => v.readyState >= 1 && !v.error)"),
            what="every clip's metadata")

        ActionChains(driver).send_keys("3").perform()  # the first card is selected: dribble
        wait_for(lambda: annotations(root)[first] == 3, what="annotation_dict.json to change")
        ActionChains(driver).send_keys("x").perform()  # then the next one: discard
        wait_for(lambda: annotations(root)[second] == 10, what="the discard to be saved")
        ActionChains(driver).send_keys("\ue007").perform()  # Enter: accept the third as it is
        wait_for(lambda: len(log(root)) == 3, what="the accept to be logged")
        assert annotations(root) == {**before, first: 3, second: 10}
        assert [(e["clip"], e["new"]) for e in log(root)] == [(first, 3), (second, 10), (third, before[third])]

        server.close()  # stopping the server loses nothing; a new one on the folder shows the saved state
        server = Server(root)
        driver.get(server.url)
        wait_for(lambda: driver.find_elements("css selector", ".clip"), what="the grid after a restart")
        shown = {c.get_attribute("data-id"): c for c in driver.find_elements("css selector", ".clip")}
        assert shown[first].get_attribute("data-label") == "3" and shown[second].get_attribute("data-label") == "10"
        assert "reviewed" in shown[third].get_attribute("class")
        assert "3 of" in driver.find_element("id", "progress").text
        driver.find_element("css selector", "#filter option[value='3']").click()  # filter by label
        assert [c.get_attribute("data-id") for c in driver.find_elements("css selector", ".clip")] == [first]
        assert console_errors(driver) == []
    finally:
        server.close()
        driver.quit()
