"""A headless Chromium session that opens a page, waits for it, clicks, reads its console
and takes screenshots: the page's tests, its benchmark and the screenshot in the docs use it.

It speaks the Chrome DevTools Protocol over Chromium's ``--remote-debugging-pipe`` (file
descriptors 3 and 4 of the browser, JSON messages ending in a NUL byte), so it needs no
network port and no package beyond the standard library. The browser is Debian's
``chromium`` package (``make install`` / ``environment/setup_env.sh`` install it); it draws WebGL
in software (SwiftShader), hence ``--enable-unsafe-swiftshader``, which modern Chromium
requires for software WebGL.
"""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

BROWSERS = ('chromium', 'chromium-browser', 'google-chrome')
FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--enable-unsafe-swiftshader', '--hide-scrollbars', '--mute-audio',
         '--remote-debugging-pipe')
# Console entries that count as errors: console.error / console.assert, uncaught
# exceptions, and the browser's own log entries of level error (e.g. a failed load).
ERROR_CONSOLE_TYPES = ('error', 'assert')


def find_chromium():
    """Path of a Chromium executable on ``PATH`` (``BROWSERS`` in order), else None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    """Chromium did not start, answered an error, or a wait timed out."""


class HeadlessChromium:
    """One headless Chromium with one page, as a context manager.

    Args:
        width, height (int): the page's viewport in CSS px (device scale factor 1).
        executable (str): the browser; default :func:`find_chromium`.
        timeout (float): seconds any single command or wait may take.
    """

    def __init__(self, width=1400, height=1000, executable=None, timeout=120.0):
        executable = executable or find_chromium()
        if executable is None:
            raise BrowserError(f'no Chromium found (looked for {", ".join(BROWSERS)})')
        self.timeout = timeout
        self.console_errors = []
        self._profile = tempfile.mkdtemp(prefix='gdocc-chromium-')
        self._next_id = 0
        self._buffer = b''
        self._loads = 0  # load events seen
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def pipe_fds():  # in the child: the protocol's descriptors 3 (in) and 4 (out)
            # Copies first: a pipe end may itself be 3 or 4, and dup2 onto itself would
            # leave it close-on-exec.
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        # close_fds=False keeps the dup2'd 3 and 4 open; Python's own descriptors are not
        # inheritable anyway (PEP 446).
        self._process = subprocess.Popen(
            [executable, *FLAGS, f'--user-data-dir={self._profile}',
             f'--window-size={width},{height}', 'about:blank'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=pipe_fds)
        os.close(to_browser_r)
        os.close(from_browser_w)
        try:
            targets = self._command('Target.getTargets')['targetInfos']
            page = next(t for t in targets if t['type'] == 'page')
            self._session = self._command('Target.attachToTarget', targetId=page['targetId'],
                                          flatten=True)['sessionId']
            for domain in ('Page', 'Runtime', 'Log'):
                self.send(f'{domain}.enable')
            self.send('Emulation.setDeviceMetricsOverride', width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the browser and removes its profile folder."""
        if self._process.poll() is None:
            try:
                self._write({'id': self._new_id(), 'method': 'Browser.close'})
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    # -- protocol ---------------------------------------------------------------------------
    def _new_id(self):
        self._next_id += 1
        return self._next_id

    def _write(self, message):
        os.write(self._to_browser, json.dumps(message).encode() + b'\0')

    def _read(self, deadline):
        while b'\0' not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError('Chromium did not answer in time')
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError('Chromium closed the DevTools pipe')
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b'\0', 1)
        return json.loads(message)

    def _record(self, message):
        method, params = message.get('method'), message.get('params', {})
        if method == 'Page.loadEventFired':
            self._loads += 1
        if method == 'Runtime.consoleAPICalled' and params['type'] in ERROR_CONSOLE_TYPES:
            self.console_errors.append(' '.join(str(a.get('value', a.get('description', '')))
                                                for a in params['args']))
        elif method == 'Runtime.exceptionThrown':
            details = params['exceptionDetails']
            self.console_errors.append(details.get('exception', {}).get('description')
                                       or details.get('text', 'exception'))
        elif method == 'Log.entryAdded' and params['entry']['level'] == 'error':
            self.console_errors.append(params['entry']['text'])

    def _command(self, method, session=None, **params):
        ident = self._new_id()
        message = {'id': ident, 'method': method, 'params': params}
        if session:
            message['sessionId'] = session
        self._write(message)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get('id') == ident:
                if 'error' in reply:
                    raise BrowserError(f'{method}: {reply["error"].get("message")}')
                return reply.get('result', {})
            self._record(reply)

    def send(self, method, **params):
        """Sends a DevTools command to the page; returns its result (dict)."""
        return self._command(method, self._session, **params)

    # -- page -------------------------------------------------------------------------------
    def open(self, path):
        """Navigates to the local file ``path`` and waits for its load event."""
        loads = self._loads
        self.send('Page.navigate', url='file://' + os.path.abspath(path))
        deadline = time.monotonic() + self.timeout
        while self._loads == loads:  # the event may come before navigate's reply
            self._record(self._read(deadline))

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (awaited if a promise)."""
        result = self.send('Runtime.evaluate', expression=expression, returnByValue=True,
                           awaitPromise=True)
        if 'exceptionDetails' in result:
            details = result['exceptionDetails']
            text = details.get('exception', {}).get('description') or details.get('text')
            raise BrowserError(f'{expression}: {text}')
        return result['result'].get('value')

    def wait_for(self, expression, timeout=None):
        """Polls ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f'timed out waiting for {expression}')
            time.sleep(0.1)

    def click(self, x, y):
        """A left click at viewport position (x, y), CSS px."""
        for kind in ('mousePressed', 'mouseReleased'):
            self.send('Input.dispatchMouseEvent', type=kind, x=x, y=y, button='left',
                      clickCount=1)

    def screenshot(self):
        """The viewport as an RGB ``PIL.Image``."""
        import io

        from PIL import Image

        data = base64.b64decode(self.send('Page.captureScreenshot', format='png')['data'])
        with Image.open(io.BytesIO(data)) as image:
            return image.convert('RGB')
