#!/usr/bin/env python3
"""The web page of a running `mailwire serve`, in headless Chromium (Debian's chromium and
chromium-driver) driven over WebDriver by selenium: a message sent by SMTP appears in the list
without a reload, opens, its HTML is shown in the sandboxed frame and its script did not run,
and it is deleted. A screenshot of the page is saved.

    browser_check.py READY_JSON SCREENSHOT.png

Exits 0 when every check holds.
"""
import json
import smtplib
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ready = json.loads(sys.argv[1])
shot = sys.argv[2]
base = "http://" + ready["http"]
smtp_host, smtp_port = ready["smtp"].rsplit(":", 1)

opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
profile = tempfile.mkdtemp(prefix="mailwire-chromium-")
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--window-size=1280,800", f"--user-data-dir={profile}"]:
    opts.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
try:
    wait = WebDriverWait(driver, 20)
    driver.get(base + "/")
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-live") == "1")
    rows_before = len(driver.find_elements(By.CSS_SELECTOR, "#rows tr"))
    assert rows_before == 0, f"{rows_before} rows before any mail"

    html = ("<html><body><h1 id='hello'>Hello from the browser test</h1>"
            "<p>An image from far away: <img src='http://192.0.2.1/pixel.png'></p>"
            "<script>parent.document.title='SCRIPT RAN'; document.body.innerHTML='SCRIPT RAN';</script>"
            "</body></html>")
    msg = ("From: Browser Test <sender@example.org>\r\nTo: alice@example.com\r\n"
           "Subject: Seen in Chromium\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe plain text part.\r\n"
           f"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b--\r\n")
    s = smtplib.SMTP(smtp_host, int(smtp_port))
    s.sendmail("sender@example.org", ["alice@example.com"], msg.encode())
    s.quit()

    # It appears without a reload (the event stream).
    row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#rows tr")))
    assert "Seen in Chromium" in row.text, row.text
    assert "unread" in row.get_attribute("class"), row.get_attribute("class")
    row.click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "subject"), "Seen in Chromium"))
    frame = wait.until(EC.presence_of_element_located((By.ID, "html-frame")))
    assert frame.get_attribute("sandbox") == "", frame.get_attribute("sandbox")
    driver.switch_to.frame(frame)
    h1 = wait.until(EC.presence_of_element_located((By.ID, "hello")))
    assert h1.text == "Hello from the browser test", h1.text
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "SCRIPT RAN" not in body, "the message's script ran in the frame"
    img = driver.find_element(By.TAG_NAME, "img")
    loaded = driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
    assert not loaded, "a remote image was loaded without asking"
    driver.switch_to.default_content()
    assert driver.title == "mailwire", f"the page title changed: {driver.title!r}"

    # The text and source tabs.
    driver.find_element(By.CSS_SELECTOR, ".tabs button[data-pane=text]").click()
    assert "The plain text part." in driver.find_element(By.ID, "text").text
    driver.find_element(By.CSS_SELECTOR, ".tabs button[data-pane=source]").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "source"), "Subject: Seen in Chromium"))
    driver.find_element(By.CSS_SELECTOR, ".tabs button[data-pane=html]").click()

    # Opening it marked it read (the \Seen IMAP shows).
    wait.until(lambda d: "unread" not in d.find_element(By.CSS_SELECTOR, "#rows tr").get_attribute("class"))
    driver.save_screenshot(shot)

    driver.find_element(By.ID, "delete").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 0)
    # Gone from the server too.
    left = driver.execute_script(
        "return fetch('/api/v1/messages').then(r => r.json()).then(j => j.total)")
    assert left == 0, f"{left} messages left after delete"
    print(f"browser_check: all checks passed; screenshot {shot}")
finally:
    driver.quit()
