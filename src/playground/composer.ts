import type { Elements } from './elements.js';

/** The message box with its Send and Stop buttons. */
export class Composer {
  constructor(private readonly els: Pick<Elements, 'app' | 'input' | 'send' | 'stop'>) {}

  setRunning(running: boolean): void {
    const { els } = this;
    els.send.hidden = running;
    els.stop.hidden = !running;
    els.app.classList.toggle('running', running);
    if (running) els.stop.focus();
    else if (document.activeElement === els.stop || document.activeElement === document.body) els.input.focus();
  }

  resizeInput(): void {
    this.els.input.style.height = 'auto';
    this.els.input.style.height = `${Math.min(this.els.input.scrollHeight, 220)}px`;
  }

  /** Puts an unsent message back, unless something new has been typed meanwhile. */
  restore(text: string): void {
    if (!this.els.input.value) {
      this.els.input.value = text;
      this.resizeInput();
    }
  }
}
