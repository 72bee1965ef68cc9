"""continuous_training through the Airflow UI in a real browser (selenium, headless Debian
chromium), as an operator uses it: log in, look at the graph, trigger with Params from
the trigger form, approve the promotion on the Required Actions page.

Runs against the folder's one Airflow (conftest.cluster), after test_real_airflow.py: a
champion may exist already. Screenshots: build/test-output/airflow_e2e/screenshots.
Needs `apt-get install -y chromium chromium-driver` (no browser download here).
"""

import json
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import fake_pipeline_command
from harness import REPO
from selenium import webdriver
from selenium.common.exceptions import (
  ElementClickInterceptedException,
  ElementNotInteractableException,
  StaleElementReferenceException,
  WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

DAG = 'continuous_training'
CHROMIUM = Path('/usr/bin/chromium')
CHROMEDRIVER = Path('/usr/bin/chromedriver')
SCREENSHOTS = REPO / 'build' / 'test-output' / 'airflow_e2e' / 'screenshots'
ALIAS = ('registry', 'chicago-taxi-tipper', 'aliases', 'champion.json')
CHROMIUM_FLAGS = (
    '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--window-size=1600,1100',
    '--lang=en-US',  # the date input takes its keys in the locale's order (mm/dd/yyyy)
)
WINDOW = (1600, 1100)
# A React re-render replaces elements between finding and using them: retry, do not fail
FLAKY_DOM = (StaleElementReferenceException, ElementClickInterceptedException,
             ElementNotInteractableException)
DIALOG = '[role=dialog][data-state=open]'
SUBMIT = f'{DIALOG} [data-testid=trigger-dag-submit]'
APPROVE = '[data-testid="hitl-option-Approve"]'
MISSING = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
if MISSING:  # before the session's Airflow starts for nothing
  pytest.skip(f'{", ".join(MISSING)} missing: the browser test needs Debian\'s chromium and '
              f'its driver: `apt-get install -y chromium chromium-driver`',
              allow_module_level=True)
FORM = {'window_end': '2016-01-01', 'window_days': 90, 'promotion_mode': 'manual',
        'force_retrain': True}


def param(name: str) -> str:
  """A Param's input in the trigger form (the form names it element_<param>)."""
  return f'{DIALOG} input[name=element_{name}]'


def param_xpath(name: str) -> str:
  return f'//*[@role="dialog"][@data-state="open"]//input[@name="element_{name}"]'


def settings(api, **values):
  """The ct_settings Variable, as an operator sets it in the UI or through the API."""
  values.setdefault('local_pipeline_command', fake_pipeline_command())
  values.setdefault('rollout', 'none')  # the champion moves at promotion (no canary here)
  values.setdefault('poll_interval_seconds', 0.5)
  values.setdefault('approval_timeout_hours', 1)
  api.set_variable('ct_settings', values)


def champion_version(cluster) -> int:
  path = cluster.local_dir.joinpath(*ALIAS)
  return json.loads(path.read_text())['version'] if path.exists() else 0


@pytest.fixture
def browser():
  options = webdriver.ChromeOptions()
  options.binary_location = str(CHROMIUM)
  with tempfile.TemporaryDirectory(prefix='chromium-profile-') as profile:
    for flag in (*CHROMIUM_FLAGS, f'--user-data-dir={profile}'):
      options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(60)
    try:
      yield driver
    finally:
      driver.quit()


def find_all(root, locator: str):
  by = By.XPATH if locator.startswith(('/', './', '(')) else By.CSS_SELECTOR
  return root.find_elements(by, locator)


class Ui:
  """Explicit waits on the page as a user sees it: visible, enabled, then acted on."""

  def __init__(self, driver, base_url: str):
    self.driver, self.base_url = driver, base_url
    self.step = 'start'
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / 'failure.png').unlink(missing_ok=True)  # a previous run's

  def open(self, path: str) -> None:
    self.driver.get(self.base_url + path)

  def wait(self, condition, what: str, timeout=30):
    return WebDriverWait(self.driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=FLAKY_DOM).until(condition, f'{what} ({timeout} s)')

  def visible(self, locator, what: str | None = None, root=None, timeout=30):
    """The first displayed element; locator: CSS, or XPath (starts with / or ./)."""
    def found(driver):
      shown = [e for e in find_all(root or driver, locator) if e.is_displayed()]
      return shown[0] if shown else False
    return self.wait(found, what or f'{locator} visible', timeout)

  def click(self, locator, what: str | None = None, root=None, timeout=30) -> None:
    def clicked(driver):
      for e in find_all(root or driver, locator):
        if e.is_displayed() and e.is_enabled():
          self.driver.execute_script('arguments[0].scrollIntoView({block: "center"})', e)
          e.click()
          return True
      return False
    self.wait(clicked, what or f'{locator} clickable', timeout)

  def type_into(self, locator: str, text: str) -> None:
    self.wait(lambda d: self.visible(locator).send_keys(text) or True, f'typing into {locator}')

  def value(self, locator: str) -> str | None:
    found = find_all(self.driver, locator)
    return found[0].get_attribute('value') if found else None

  def settled(self, css: str, what: str, timeout=30) -> None:
    """Until the element's style (e.g. the graph's zoom transform) stops changing."""
    last = []

    def unchanged(driver):
      style = driver.find_element(By.CSS_SELECTOR, css).get_attribute('style')
      last.append(style)
      return len(last) > 2 and last[-1] == last[-2] == last[-3]
    self.wait(unchanged, what, timeout)

  def shot(self, name: str, full_height_of: str | None = None) -> Path:
    """A screenshot; full_height_of: grow the window to show that element whole."""
    path = SCREENSHOTS / name
    if full_height_of:
      height = self.driver.execute_script(
          'return arguments[0].scrollHeight', self.visible(full_height_of))
      self.driver.set_window_size(WINDOW[0], max(WINDOW[1], height + 250))
    try:
      self.driver.save_screenshot(str(path))
    finally:
      if full_height_of:
        self.driver.set_window_size(*WINDOW)
    return path

  def page_text(self, chars=1500) -> str:
    try:
      return self.driver.find_element(By.TAG_NAME, 'body').text[:chars]
    except WebDriverException as e:
      return f'(no page text: {e.msg})'


def test_trigger_and_approve_a_manual_promotion_in_the_ui(cluster, api, browser):
  ui = Ui(browser, cluster.url)
  password = json.loads((cluster.home / 'passwords.json').read_text())['admin']
  settings(api)
  api.set_paused(DAG, False)
  champion_before = champion_version(cluster)
  started = time.monotonic()
  try:
    ui.step = '1 log in'
    ui.open(f'/dags/{DAG}')  # not logged in: the simple auth manager's login page
    ui.wait(lambda d: '/auth/login' in d.current_url, 'redirect to the login page')
    ui.visible('input[name=username]').send_keys('admin')
    ui.visible('input[name=password]').send_keys(password)
    ui.click('button[type=submit]', 'Sign in')
    ui.wait(lambda d: urlparse(d.current_url).path == f'/dags/{DAG}',
            'back on the DAG page after logging in')

    ui.step = '2 graph view'
    ui.click('button[value=graph]', 'the Graph view button')  # the default is the Grid
    task_ids = {t['task_id'] for t in api.get(f'/dags/{DAG}/tasks')['tasks']}
    ui.wait(lambda d: {n.get_attribute('data-id') for n in d.find_elements(
        By.CSS_SELECTOR, '.react-flow__node') if n.is_displayed()} == task_ids,
        f'every task drawn in the graph: {sorted(task_ids)}')
    # cosmetic: the graph gets the whole width, then fit to it
    if browser.find_elements(By.CSS_SELECTOR, 'button[aria-label="Collapse Details Panel"]'):
      ui.click('button[aria-label="Collapse Details Panel"]')
      ui.click('.react-flow__controls-fitview', 'the graph\'s Fit View control')
    ui.settled('.react-flow__viewport', 'the graph done zooming to fit')
    ui.shot('graph.png')

    ui.step = '3 trigger form'
    ui.click('[data-testid=trigger-dag-button]', 'the Trigger button')
    ui.visible(DIALOG, 'the trigger dialog')
    # the fixed bug: ["null","string"] Params were required, the button disabled
    assert ui.visible(param('window_end'), 'the Params').get_attribute('required') is None, (
        'window_end shown as required')
    assert ui.visible(SUBMIT).is_enabled(), 'Trigger is disabled with the default Params'

    ui.type_into(param('window_end'), '01012016')  # the date input's mm/dd/yyyy segments
    ui.wait(lambda d: ui.value(param('window_end')) == FORM['window_end'], 'window_end filled')
    ui.type_into(param('window_days'), str(FORM['window_days']))
    ui.wait(lambda d: ui.value(param('window_days')) == str(FORM['window_days']),
            'window_days filled')
    # promotion_mode: a select (react-select); its value is in a hidden input
    ui.click(f'{param_xpath("promotion_mode")}/ancestor::*[.//input[@role="combobox"]][1]'
             f'//input[@role="combobox"]', 'the promotion_mode select')
    ui.click(f'//*[@role="option"][normalize-space()="{FORM["promotion_mode"]}"]',
             'the promotion_mode option')
    ui.wait(lambda d: ui.value(param('promotion_mode')) == FORM['promotion_mode'],
            'promotion_mode set')
    # force_retrain: a switch; a user clicks its label, the checkbox itself is hidden
    ui.click(f'{param_xpath("force_retrain")}/ancestor::label[1]', 'the force_retrain switch')
    ui.wait(lambda d: d.find_element(By.CSS_SELECTOR, param('force_retrain')).is_selected(),
            'force_retrain on')

    assert ui.visible(SUBMIT).is_enabled(), 'Trigger is disabled with the filled Params'
    ui.shot('trigger_form.png', full_height_of=DIALOG)
    ui.click(SUBMIT, 'the dialog\'s Trigger button')

    ui.step = '4 the new run'
    # the UI goes to the new run's page: /dags/<dag>/runs/<run id>
    ui.wait(lambda d: urlparse(d.current_url).path.startswith(f'/dags/{DAG}/runs/'),
            'the new run\'s page')
    run_id = unquote(urlparse(browser.current_url).path.split('/runs/', 1)[1].split('/')[0])
    run = api.run(DAG, run_id)
    newest = api.get(f'/dags/{DAG}/dagRuns', params={'order_by': '-run_after', 'limit': 5,
                                                     'run_type': 'manual'})['dag_runs'][0]
    assert newest['dag_run_id'] == run_id, (newest, run_id)
    assert run['run_type'] == 'manual' and run['triggering_user_name'] == 'admin', run
    assert {k: run['conf'].get(k) for k in FORM} == FORM, run['conf']
    api.wait_task(DAG, run_id, 'request_approval', 'awaiting_input', timeout=240)
    cluster.wait_parked(DAG, run_id, 'request_approval')  # apache/airflow#72716

    ui.step = '5 required actions'
    ui.open('/required_actions?response_received=false')  # the UI's own "view all" link
    request = (f'//tr[.//*[@title="{run_id}"]]'
               f'//a[contains(@href, "/tasks/request_approval/required_actions")]')
    ui.visible(request, f'a pending request of run {run_id}')
    ui.shot('approval_page.png')
    ui.click(request, 'the request\'s link')
    ui.wait(lambda d: urlparse(d.current_url).path.endswith(
        '/tasks/request_approval/required_actions'), 'the request\'s page')
    ui.visible(APPROVE, 'the Approve button')
    assert f'Promote run {run_id} of {DAG}?' in ui.page_text(5000)
    ui.shot('approval_request.png')
    ui.click(APPROVE, 'Approve')
    ui.wait(lambda d: not d.find_element(By.CSS_SELECTOR, APPROVE).is_enabled(),
            'the request answered (its buttons disabled)')
    ui.wait(lambda d: 'from admin' in ui.page_text(5000), 'the response shown as from admin')
    ui.shot('approved.png')

    ui.step = '6 the run\'s end'
    done = api.wait_run(DAG, run_id)
    states = api.task_states(DAG, run_id)
    assert done['state'] == 'success', states
    assert states['request_approval'] == 'success' and states['promote'] == 'success', states
    assert {t: s for t, s in states.items() if s == 'failed'} == {}, states
    detail = api.get(f'/dags/{DAG}/dagRuns/{run_id}/taskInstances/request_approval/-1/'
                     f'hitlDetails')
    assert detail['chosen_options'] == ['Approve'], detail
    assert detail['responded_by_user']['name'] == 'admin', detail
    assert champion_version(cluster) == champion_before + 1
  except Exception as e:
    try:
      ui.shot('failure.png')
    except WebDriverException:
      pass  # the report below matters more than the picture
    error = e.msg if isinstance(e, WebDriverException) else e  # no driver stack
    raise AssertionError(f'step {ui.step}: {type(e).__name__}: {error}\n'
                         f'url: {browser.current_url}\npage text:\n{ui.page_text()}') from e
  print(f'\nUI test: run {run_id} approved in the browser, {time.monotonic() - started:.0f} s;'
        f' screenshots in {SCREENSHOTS}')
